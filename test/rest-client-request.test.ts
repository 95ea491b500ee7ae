// rest-client's one request (containers/rest-client/main.ts getInfo), in process against the real
// rest-server bundle: it keeps nothing per request (a client runs for months; the 60-minute soak
// found Node 20's AbortSignal.timeout() keeping about 400 bytes per request), and its deadline
// still ends a request that gets no reply.
import { once } from "node:events";
import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { getInfo } from "../containers/rest-client/main";
import { cleanUp, run, scratchDir } from "./support/bundles";
import { liveHeapBytes } from "./support/heap";

describe("rest-client's request", () => {
  afterEach(cleanUp);

  it("keeps no memory per request: 5,000 requests to rest-server grow the live heap by less than 0.5 MB", async () => {
    const socket = join(scratchDir(), "api.sock");
    await run("rest-server", { args: ["--socket", socket] }).waitForOutput(/serving GET \/info/);
    for (let i = 0; i < 1000; i++) expect((await getInfo(socket)).status).toBe(200); // warm-up
    const before = liveHeapBytes();
    for (let i = 0; i < 5000; i++) expect((await getInfo(socket)).status).toBe(200);
    // Kept per request, 5,000 requests would be about 2 MB here (AbortSignal.timeout: 1.9 MB).
    expect(liveHeapBytes() - before).toBeLessThan(512 * 1024);
  }, 120_000);

  it("a provider that accepts but never replies: the request ends at its deadline with ABORT_ERR", async () => {
    const socket = join(scratchDir(), "silent.sock");
    const held: Socket[] = [];
    const silent = createServer((connection) => held.push(connection)).listen(socket);
    await once(silent, "listening");
    try {
      const startedAt = Date.now();
      await expect(getInfo(socket, 200)).rejects.toMatchObject({ code: "ABORT_ERR" });
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(190);
    } finally {
      for (const connection of held) connection.destroy();
      silent.close();
    }
  });
});
