// Hardening: SIGTERM in the middle of traffic. Every program exits 0 within a second, removes its
// socket, and leaves no process behind.
import { existsSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { run, stopAll, tempDir } from "../support/bundles";
import { record } from "../support/figures";

const dirs: { remove(): void }[] = [];
afterEach(async () => {
  await stopAll();
  for (const dir of dirs.splice(0)) dir.remove();
});

/** Child pids of `pid` (Linux /proc), to show nothing is left behind. */
function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Keeps `count` connections busy: unix echo streams, or back-to-back HTTP requests. */
function traffic(path: string, count: number, kind: "echo" | "http"): () => void {
  let stopped = false;
  const one = (): void => {
    if (stopped) return;
    const socket = connect(path);
    socket.on("error", () => undefined);
    socket.on("close", () => setTimeout(one, 5));
    if (kind === "echo") {
      socket.on("connect", () => {
        const pump = (): void => {
          while (!stopped && socket.write(Buffer.alloc(16 * 1024, 0x61)));
          if (!stopped) socket.once("drain", pump);
        };
        pump();
      });
      socket.resume();
    } else {
      socket.on("connect", () => socket.end("GET /info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
      socket.resume();
    }
  };
  for (let i = 0; i < count; i++) one();
  return () => (stopped = true);
}

describe.each([
  { program: "unix-server", ready: /echoing on/, kind: "echo" as const },
  { program: "rest-server", ready: /serving GET/, kind: "http" as const },
])("$program", ({ program, ready, kind }) => {
  it("SIGTERM during traffic from 20 clients: exit 0 within 1 s, socket removed, no child left", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const path = join(dir.path, "server.sock");
    const server = run(program, { args: ["--socket", path] });
    await server.waitForOutput(ready);
    const stopTraffic = traffic(path, 20, kind);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const pid = server.pid;
    const exit = await server.stop("SIGTERM", 1000);
    stopTraffic();
    record({ area: program, check: "SIGTERM under traffic (20 clients)", inputs: 1, crashes: exit.code === 0 ? 0 : 1, note: `exit ${exit.code ?? exit.signal}` });
    expect(exit).toEqual({ code: 0, signal: null });
    expect(existsSync(path)).toBe(false);
    expect(children(pid)).toEqual([]);
  });
});

describe.each([
  { program: "unix-client", server: "unix-server", ok: /echo OK/ },
  { program: "rest-client", server: "rest-server", ok: /GET \/info -> 200/ },
])("$program", ({ program, server: serverProgram, ok }) => {
  it("SIGTERM while exchanging every 10 ms: exit 0 within 1 s", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const path = join(dir.path, "server.sock");
    const server = run(serverProgram, { args: ["--socket", path] });
    await server.waitForOutput(/on /);
    const client = run(program, { args: ["--socket", path, "--interval", "0.01"] });
    await client.waitForOutput(ok);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const exit = await client.stop("SIGTERM", 1000);
    record({ area: program, check: "SIGTERM while exchanging every 10 ms", inputs: 1, crashes: exit.code === 0 ? 0 : 1, note: `exit ${exit.code ?? exit.signal}` });
    expect(exit).toEqual({ code: 0, signal: null });
  });
});
