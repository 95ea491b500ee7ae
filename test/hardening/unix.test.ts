// Hardening: the unix echo server with 1,000 concurrent clients, a 64 MB payload from a client that
// reads slowly (memory must stay bounded: backpressure), and clients that vanish mid-write.
// No byte may be lost or mixed between clients.
import { createHash, randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChildProgram } from "../../mesh/process";
import { run, stopAll, tempDir } from "../support/bundles";
import { record, rssMb } from "../support/figures";
import { echoOn, openSocket } from "../support/net";

describe("unix-server under load", () => {
  const dir = tempDir("pv-harden-unix-");
  const path = join(dir.path, "raw.sock");
  let server: ChildProgram;

  beforeAll(async () => {
    server = run("unix-server", { args: ["--socket", path] });
    await server.waitForOutput(/echoing on/);
  });
  afterAll(async () => {
    await stopAll();
    dir.remove();
  });

  it("1,000 concurrent clients each get back exactly their own bytes", async () => {
    const sockets: Socket[] = [];
    for (let wave = 0; wave < 10; wave++) sockets.push(...(await Promise.all(Array.from({ length: 100 }, () => openSocket(path)))));
    const payloads = sockets.map(() => randomBytes(4096));
    const echoes = await Promise.all(sockets.map((socket, i) => echoOn(socket, payloads[i]!)));
    const intact = echoes.filter((echo, i) => echo.equals(payloads[i]!)).length;
    record({ area: "unix-server", check: "1,000 concurrent clients, 4 KiB each", inputs: 1000, crashes: server.running ? 0 : 1, note: `${intact}/1000 intact` });
    expect(intact).toBe(1000);
  });

  it("a 64 MB payload from a client that stops reading: the server stops reading too, every byte comes back", async () => {
    const total = 64 << 20;
    const block = randomBytes(64 << 10); // small blocks: a write counts as taken once it completes
    const socket = await openSocket(path);
    const received = createHash("sha256");
    let receivedBytes = 0;
    const done = new Promise<void>((resolve, reject) => {
      socket.on("data", (chunk: Buffer) => {
        received.update(chunk);
        receivedBytes += chunk.length;
        if (receivedBytes >= total) resolve();
      });
      socket.on("error", reject);
    });
    socket.pause(); // the slow reader: it reads nothing at first
    const rssBefore = rssMb(server.pid);

    // Write until the socket stops draining: what the kernel took is all the server could have
    // buffered on our behalf, since it must not read what it cannot echo.
    const sent = createHash("sha256");
    let written = 0;
    let stalled = false;
    while (written < total && !stalled) {
      sent.update(block);
      written += block.length;
      if (!socket.write(block)) {
        stalled = !(await Promise.race([
          new Promise<boolean>((resolve) => socket.once("drain", () => resolve(true))),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 1000)),
        ]));
      }
    }
    const acceptedMb = (written - socket.writableLength) / (1 << 20);
    const rssStalled = rssMb(server.pid);

    // Now read, and send the rest.
    socket.resume();
    while (written < total) {
      sent.update(block);
      written += block.length;
      if (!socket.write(block)) await new Promise((resolve) => socket.once("drain", resolve));
    }
    await done;
    socket.destroy();
    const growth = Math.round((rssStalled - rssBefore) * 10) / 10;
    record({
      area: "unix-server", check: "64 MB, client not reading at first", inputs: 1, crashes: server.running ? 0 : 1, leakMb: growth,
      note: `stalled after ${acceptedMb.toFixed(1)} MB in flight; RSS growth while stalled`,
    });
    expect(stalled).toBe(true);
    expect(acceptedMb).toBeLessThan(16);
    expect(growth).toBeLessThan(16);
    expect(received.digest("hex")).toBe(sent.digest("hex"));
  });

  it("clients that vanish mid-write do not disturb the others", async () => {
    const vanishing = Array.from({ length: 200 }, async () => {
      const socket = await openSocket(path);
      socket.on("error", () => undefined);
      socket.write(randomBytes(64 * 1024));
      socket.destroy();
    });
    const steady = Array.from({ length: 50 }, async () => {
      const payload = randomBytes(16 * 1024);
      return (await echoOn(await openSocket(path), payload)).equals(payload);
    });
    await Promise.all(vanishing);
    const intact = (await Promise.all(steady)).filter(Boolean).length;
    record({ area: "unix-server", check: "200 clients vanish mid-write beside 50 steady ones", inputs: 250, crashes: server.running ? 0 : 1, note: `${intact}/50 steady intact` });
    expect(intact).toBe(50);
    expect(server.running).toBe(true);
  });
});
