// The loop every periodic client runs (shared/client.ts everyTick), in process: it keeps nothing
// per exchange (a client runs for months), and a stop signal does not wait for an exchange in flight.
import { describe, expect, it } from "vitest";
import { everyTick, type TickOptions } from "../shared/client";
import { liveHeapBytes } from "./support/heap";

const FAST: TickOptions = { intervalSeconds: 0.000001, count: Infinity, waitSeconds: 30 };

describe("everyTick", () => {
  it("keeps no memory per exchange: 10,000 exchanges of one run grow the live heap by less than 1 MB", async () => {
    // One run, as a client's life is: anything tied to its stop signal, which stays unused until the
    // end, must not pile up. A reaction per exchange on a promise pending until the end was 3 MB here.
    const controller = new AbortController();
    let exchanges = 0;
    let before = 0;
    await everyTick({ ...FAST, count: 11_000 }, controller.signal, {
      exchange: async () => {
        if (++exchanges === 1000) before = liveHeapBytes();
        return null;
      },
      explain: () => null,
    });
    expect(liveHeapBytes() - before).toBeLessThan(1024 * 1024);
  }, 60_000);

  it("a stop signal ends the loop at once, without waiting for the exchange in flight", async () => {
    const controller = new AbortController();
    let started = 0;
    const running = everyTick({ ...FAST, count: 5 }, controller.signal, {
      exchange: () => {
        started++;
        return new Promise(() => undefined); // a provider that never answers
      },
      explain: () => null,
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const stoppedAt = Date.now();
    controller.abort("SIGTERM");
    await running;
    expect(Date.now() - stoppedAt).toBeLessThan(100);
    expect(started).toBe(1);
  });
});
