// The local mesh's per-link counters (GET /xconnect-counters on its pv-ctrl socket, beside the
// graph, which stays exactly pv-xconnect's): connections accepted, bytes each way of open and
// closed connections, and the last error; none for a link that is not a proxied socket.
import { lstatSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countersAt } from "../mesh/proxy";
import type { Link, MeshOptions } from "../mesh/types/link";
import { injectUnix } from "../mesh/types/unix";
import { injectWayland } from "../mesh/types/wayland";
import { startMesh, type LinkCounters, type Mesh } from "../mesh/xconnect";
import { cleanUp, scratchDir } from "./support/bundles";
import { echoOn, openSocket } from "./support/net";

/** One HTTP/1.0 GET on a pv-ctrl-like socket: the status and the parsed body. */
function ctrlGet(socketPath: string, path: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath, () => socket.write(`GET ${path} HTTP/1.0\r\n\r\n`));
    let answer = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (answer += chunk));
    socket.on("end", () => resolve({ status: Number(answer.slice(9, 12)), body: JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4)) }));
    socket.on("error", reject);
  });
}

async function counters(mesh: Mesh): Promise<Map<string, LinkCounters>> {
  const { status, body } = await ctrlGet(mesh.ctrlSocket, "/xconnect-counters");
  expect(status).toBe(200);
  return new Map((body as LinkCounters[]).map((row) => [row.consumer, row]));
}

afterAll(cleanUp);

describe("GET /xconnect-counters on the local mesh", () => {
  let mesh: Mesh;
  beforeAll(async () => {
    const fast = ["--interval", "0.3"];
    mesh = await startMesh({ containers: [{ name: "unix-server" }, { name: "unix-client", args: fast }, { name: "rest-server" }, { name: "rest-client", args: fast }], profile: "documented" });
    await mesh.waitForOutput("unix-client", /echo OK/);
    await mesh.waitForOutput("rest-client", /GET \/info -> 200/);
  });
  afterAll(() => mesh?.close());

  it("has one row per socket link, keyed like the graph, with what the clients exchanged", async () => {
    const rows = await counters(mesh);
    expect([...rows.keys()].sort()).toEqual(["rest-client", "unix-client"]);
    const unix = rows.get("unix-client")!;
    expect(unix).toMatchObject({ name: "raw", target: "/run/pv/services/raw.sock" });
    expect(unix.accepted).toBeGreaterThanOrEqual(1);
    // The mesh starts every container at once: a client's first connection may come before
    // unix-server listens, and that is then the link's last error (kept, with its time).
    if (unix.last_error !== null) {
      expect(unix.last_error).toMatch(/^cannot reach \/run\/example\/raw\.sock: (ENOENT|ECONNREFUSED)$/);
      expect(unix.last_error_at).not.toBeNull();
    } else {
      expect(unix.last_error_at).toBeNull();
    }
    // Each exchange is 45 bytes out and the same 45 echoed back.
    expect(unix.bytes_from_consumer).toBeGreaterThanOrEqual(45);
    expect(unix.bytes_to_consumer).toBeGreaterThanOrEqual(45);
    const rest = rows.get("rest-client")!;
    expect(rest.accepted).toBeGreaterThanOrEqual(1);
    expect(rest.bytes_to_consumer).toBeGreaterThan(rest.bytes_from_consumer); // a JSON reply is longer than a GET
  });

  it("counts an open connection's bytes while it is open, and the connection itself", async () => {
    const target = join(mesh.rootOf("unix-client"), "run/pv/services/raw.sock");
    const before = (await counters(mesh)).get("unix-client")!;
    const socket: Socket = await openSocket(target);
    const payload = Buffer.alloc(10_000, 7);
    // echoOn destroys the socket at the end: read the counters halfway, with a second connection held open.
    const held = await openSocket(target);
    held.write(Buffer.alloc(1000, 1));
    await new Promise<void>((resolve) => held.once("data", () => resolve()));
    const during = (await counters(mesh)).get("unix-client")!;
    expect(during.open).toBeGreaterThanOrEqual(1);
    expect(during.accepted).toBeGreaterThanOrEqual(before.accepted + 2);
    expect(during.bytes_from_consumer).toBeGreaterThanOrEqual(before.bytes_from_consumer + 1000);
    expect((await echoOn(socket, payload)).length).toBe(payload.length);
    held.destroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const after = (await counters(mesh)).get("unix-client")!;
    expect(after.bytes_from_consumer).toBeGreaterThanOrEqual(before.bytes_from_consumer + 11_000);
    expect(after.bytes_to_consumer).toBeGreaterThanOrEqual(before.bytes_to_consumer + 11_000);
  });

  it("names the last error of a link (its provider gone), and starts afresh when the link is rebuilt", async () => {
    await mesh.stop("unix-server", "SIGKILL");
    const target = join(mesh.rootOf("unix-client"), "run/pv/services/raw.sock");
    await new Promise<void>((resolve) => {
      const socket = connect(target, () => socket.write("anyone?"));
      socket.on("close", () => resolve());
      socket.on("error", () => undefined);
    });
    const failed = (await counters(mesh)).get("unix-client")!;
    expect(failed.last_error).toMatch(/^cannot reach \/run\/example\/raw\.sock: (ECONNREFUSED|ENOENT)$/);
    expect(Date.parse(failed.last_error_at!)).toBeGreaterThan(Date.now() - 60_000);

    await mesh.start("unix-server"); // a new pid: the mesh rebuilds the link
    const rebuilt = (await counters(mesh)).get("unix-client")!;
    expect(rebuilt.last_error).toBeNull();
    expect(rebuilt.accepted).toBeLessThan(failed.accepted);
  });

  it("leaves GET /xconnect-graph as it was: pv-xconnect's keys only", async () => {
    const { body } = await ctrlGet(mesh.ctrlSocket, "/xconnect-graph");
    expect(body).toEqual(mesh.graph());
  });
});

describe("counters per injection", () => {
  const options: MeshOptions = { profile: "documented", lingerMs: 1000, log: () => undefined };
  function link(dir: string, type: Link["type"]): Link {
    return {
      consumer: "c", provider: "p", name: "s", type, role: "any", interface: type, target: "/t.sock", socket: "/s.sock",
      targetPath: join(dir, "consumer", "t.sock"), socketPath: join(dir, "provider", "s.sock"), providerRoot: join(dir, "provider"),
    };
  }

  it("a proxied socket (unix) has counters from the start; they go with the injection", async () => {
    const l = link(scratchDir("/tmp/pv-count-"), "unix");
    const injection = await injectUnix(l, options);
    expect(countersAt(l.targetPath)).toEqual({ accepted: 0, open: 0, bytesFromConsumers: 0, bytesToConsumers: 0 });
    await injection.close();
    expect(countersAt(l.targetPath)).toBeUndefined();
  });

  it("wayland under documented is a symlink to the compositor's socket: no counters", async () => {
    const l = link(scratchDir("/tmp/pv-count-"), "wayland");
    const injection = await injectWayland(l, options);
    expect(lstatSync(l.targetPath).isSymbolicLink()).toBe(true);
    expect(countersAt(l.targetPath)).toBeUndefined();
    await injection.close();
  });
});
