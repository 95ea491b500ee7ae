// Hardening: SIGTERM in the middle of traffic. Every program exits 0 within a second, removes its
// socket, and leaves no process behind.
import { existsSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cleanUp, run, scratchDir } from "../support/bundles";
import { record } from "../support/figures";
import { skipUnless } from "../support/skips";
import { onPath } from "../../mesh/process";

afterEach(cleanUp);

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
    const dir = scratchDir();
    const path = join(dir, "server.sock");
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
    const dir = scratchDir();
    const path = join(dir, "server.sock");
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

/** Every descendant of `pid` (children, their children, ...). */
function descendants(pid: number): number[] {
  const direct = children(pid);
  return [...direct, ...direct.flatMap(descendants)];
}

const hasWeston = onPath("weston");

describe.skipIf(skipUnless(hasWeston, "wayland-server SIGTERM", "weston is not installed (apt-get install weston)"))("wayland-server (needs weston)", () => {
  it("SIGTERM while a client draws: Weston and its helpers stopped, exit 0 within 1 s, socket gone", async () => {
    const dir = scratchDir();
    const socket = join(dir, "wl", "wayland-0");
    const server = run("wayland-server", { args: ["--socket", socket, "--backend", "headless"] });
    await server.waitForOutput(/Weston is serving/);
    const client = run("wayland-client", { args: ["--socket", socket, "--report", "10"] });
    await client.waitForOutput(/frame 10/);
    const family = descendants(server.pid);
    expect(family.length).toBeGreaterThan(0); // weston, and the shell helpers it launched
    const exit = await server.stop("SIGTERM", 1000);
    // Weston's helpers (desktop shell, keyboard) end when Weston's socket closes, a moment after
    // the launcher has seen Weston exit: wait for them, with a bound.
    const alive = (pid: number): boolean => {
      try {
        return !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z "); // a zombie has ended
      } catch {
        return false; // gone
      }
    };
    for (const deadline = Date.now() + 2000; family.some(alive) && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 50));
    const left = family.filter(alive);
    record({ area: "wayland-server", check: "SIGTERM while a client draws", inputs: 1, crashes: exit.code === 0 ? 0 : 1, note: `${family.length} descendants, ${left.length} left` });
    expect(exit).toEqual({ code: 0, signal: null });
    expect(left).toEqual([]);
    expect(existsSync(socket)).toBe(false);
    const clientExit = await client.exited(); // the compositor went away: the client says so and stops
    expect(clientExit.signal).toBeNull();
  });
});

describe.each([
  { program: "drm-provider", args: [] as string[], ready: /serving until SIGTERM/ },
  { program: "drm-master", args: ["--wait", "100"], ready: /waiting up to 100 s for DRM device/ },
  { program: "drm-render", args: ["--wait", "100"], ready: /waiting up to 100 s for DRM render node/ },
  { program: "wayland-client", args: ["--wait", "100"], ready: /waiting up to 100 s for Wayland socket/ },
  { program: "dbus-client", args: ["--interval", "0.2"], ready: /not there yet \(ENOENT\), retrying/ },
  { program: "dbus-attacker", args: [] as string[], ready: /waiting up to 30 s for D-Bus socket/ },
  { program: "ipam-probe", args: [] as string[], ready: /./ },
])("$program", ({ program, args, ready }) => {
  it("SIGTERM while it waits or serves: exit 0 within 1 s", async () => {
    const dir = scratchDir();
    const child = run(program, { args, env: { PV_ROOT: dir } });
    await child.waitForOutput(ready);
    const exit = await child.stop("SIGTERM", 1000);
    record({ area: program, check: "SIGTERM while waiting/serving", inputs: 1, crashes: exit.code === 0 ? 0 : 1, note: `exit ${exit.code ?? exit.signal}` });
    expect(exit).toEqual({ code: 0, signal: null });
  });
});
