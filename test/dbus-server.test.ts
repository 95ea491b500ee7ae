// dbus-server's bundle on its own, with a real dbus-daemon: the reply, D-Bus errors for bad calls,
// a burst of calls, and how it ends (SIGTERM; dbus-daemon dying under it).
import { cpSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DBusError, Message, type MessageBus } from "dbus-next";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ChildProgram } from "../mesh/process";
import { REPO, run, stopAll, tempDir } from "./support/bundles";
import { callExample, connectBus, daemonPids, INFO } from "./support/dbus";
import { skipUnless } from "./support/skips";

// The seed's policy lets only root own org.pantavisor.Example, so the server must run as root.
const AS_ROOT = process.getuid?.() === 0;
const SKIP_REASON = "needs root (the seed's policy lets only root own org.pantavisor.Example)";

async function errorOf(promise: Promise<unknown>): Promise<DBusError> {
  const error: unknown = await promise.then(() => null, (e: unknown) => e);
  if (!(error instanceof DBusError)) throw new Error(`expected a DBusError, got ${String(error)}`);
  return error;
}

describe.skipIf(skipUnless(AS_ROOT, "dbus-server (bundle, real dbus-daemon)", SKIP_REASON))("dbus-server (bundle, real dbus-daemon)", () => {
  let root: ReturnType<typeof tempDir>;
  let socketPath: string;
  let server: ChildProgram;
  let bus: MessageBus | undefined;

  beforeEach(async () => {
    root = tempDir("pv-dbus-server-");
    cpSync(join(REPO, "containers", "dbus-server", "rootfs"), root.path, { recursive: true });
    socketPath = join(root.path, "run/dbus/system_bus_socket");
    server = run("dbus-server", { env: { PV_ROOT: root.path } });
    await server.waitForOutput(/serves GetInfo/);
  });

  afterEach(async () => {
    bus?.disconnect();
    bus = undefined;
    await stopAll();
    for (const pid of daemonPids(socketPath)) process.kill(pid, "SIGKILL");
    root.remove();
  });

  async function connect(): Promise<MessageBus> {
    bus = await connectBus(socketPath);
    return bus;
  }

  it("prepares its bus and answers GetInfo with the seed's exact string", async () => {
    expect(existsSync(join(root.path, "var/lib/dbus/machine-id"))).toBe(true);
    expect(readFileSync(join(root.path, "var/lib/dbus/machine-id"), "utf8")).toMatch(/^[0-9a-f]{32}\n$/);
    const reply = await callExample(await connect(), "GetInfo");
    expect(reply?.signature).toBe("s");
    expect(reply?.body).toEqual([INFO]);
  });

  it("answers an unknown method and a wrong signature with D-Bus errors, and keeps serving", async () => {
    const client = await connect();
    const unknown = await errorOf(callExample(client, "Shutdown"));
    expect(unknown.type).toBe("org.freedesktop.DBus.Error.UnknownMethod");
    const wrong = await errorOf(callExample(client, "GetInfo", "s", ["surprise"]));
    expect(wrong.type).toBe("org.freedesktop.DBus.Error.InvalidArgs");
    expect(wrong.text).toBe('GetInfo takes signature "", got "s"');
    const noInterface = await errorOf(
      client.call(new Message({ destination: "org.pantavisor.Example", path: "/org/pantavisor/Example", interface: "org.pantavisor.Nope", member: "GetInfo" })),
    );
    expect(noInterface.type).toBe("org.freedesktop.DBus.Error.UnknownMethod");
    expect((await callExample(client, "GetInfo"))?.body).toEqual([INFO]);
    expect(server.running).toBe(true);
  });

  it("answers 1,000 rapid calls, every one with the same reply", async () => {
    const client = await connect();
    const replies: unknown[] = [];
    // In bursts of 100: the bus allows 128 pending replies per connection by default.
    for (let burst = 0; burst < 10; burst++) {
      const answers = await Promise.all(Array.from({ length: 100 }, () => callExample(client, "GetInfo")));
      replies.push(...answers.map((reply) => reply?.body[0]));
    }
    expect(replies).toHaveLength(1000);
    expect(new Set(replies)).toEqual(new Set([INFO]));
    expect(server.running).toBe(true);
  });

  it("SIGTERM: exits 0 within 1 s, dbus-daemon stopped, socket gone", async () => {
    const daemons = daemonPids(socketPath);
    expect(daemons).toHaveLength(1);
    expect(existsSync(socketPath)).toBe(true);
    // stop() sends SIGKILL if the process has not exited after 1 s: exit code 0 means it was in time.
    const exit = await server.stop("SIGTERM", 1000);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(daemonPids(socketPath)).toEqual([]);
    expect(existsSync(socketPath)).toBe(false);
    expect(server.output()).toMatch(/SIGTERM received, shutting down/);
  });

  it("dbus-daemon killed: exits non-zero with one clear line", async () => {
    const [daemon] = daemonPids(socketPath);
    process.kill(daemon!, "SIGKILL");
    const exit = await server.exited();
    expect(exit.code).toBe(1);
    const failures = server.output().split("\n").filter((line) => line.includes("FAILED"));
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatch(/FAILED: dbus-daemon exited \(SIGKILL\): the bus is gone$/);
    expect(server.output()).not.toMatch(/^\s+at /m); // no stack for an expected failure
  });

  it("a missing bus config: one clear line, exit 1, nothing left running", async () => {
    const other = tempDir("pv-dbus-noconfig-");
    try {
      const broken = run("dbus-server", { name: "dbus-server-noconfig", env: { PV_ROOT: other.path } });
      expect(await broken.exited()).toEqual({ code: 1, signal: null });
      expect(broken.output()).toMatch(/FAILED: bus config .*\/etc\/dbus-1\/pv-example-system\.conf not found \(--config FILE\)$/);
      expect(daemonPids(join(other.path, "run/dbus/system_bus_socket"))).toEqual([]);
    } finally {
      other.remove();
    }
  });
});
