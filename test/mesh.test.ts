// The unix and REST pairs through the local mesh, under both profiles, and the graph endpoint.
import { connect, type Socket } from "node:net";
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMesh, type Mesh } from "../mesh/xconnect";
import type { Profile } from "../mesh/types/link";
import { REPO, tempDir } from "./support/bundles";
import { echoOn, openSocket } from "./support/net";

const FAST = ["--interval", "0.3"];
const PAIRS = [
  { name: "unix-server" },
  { name: "unix-client", args: FAST },
  { name: "rest-server" },
  { name: "rest-client", args: FAST },
];

/** Raw request on the pv-ctrl socket; resolves with the first chunk received and the whole answer. */
function getGraph(socketPath: string): Promise<{ first: string; all: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath, () => socket.write("GET /xconnect-graph HTTP/1.0\r\n\r\n"));
    const chunks: string[] = [];
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => chunks.push(chunk));
    socket.on("end", () => resolve({ first: chunks[0] ?? "", all: chunks.join("") }));
    socket.on("error", reject);
  });
}

/** GET over a unix socket with headers of our choosing, as a consumer would send it. */
function get(socketPath: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, headers, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Connects, lets `act` write, and lists what arrives ("data:<text>", "end") within `ms`. */
function collect(socketPath: string, act: (socket: Socket) => void, ms: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const events: string[] = [];
    const socket = connect({ path: socketPath, allowHalfOpen: true }, () => act(socket));
    socket.on("data", (chunk: Buffer) => events.push(`data:${chunk.toString()}`));
    socket.on("end", () => events.push("end"));
    socket.on("error", reject);
    setTimeout(() => {
      socket.destroy();
      resolve(events);
    }, ms);
  });
}

describe.each<Profile>(["documented", "master"])("profile %s", (profile) => {
  let mesh: Mesh;
  beforeAll(async () => {
    mesh = await startMesh({ containers: PAIRS, profile, lingerMs: 1000 });
  });
  afterAll(() => mesh?.close());

  it("unix: the client reads back exactly the bytes it sent", async () => {
    const line = await mesh.waitForOutput("unix-client", /echo OK/);
    expect(line).toMatch(/echo OK \(45 bytes\): Hello from client at \d{4}-\d\d-\d\dT/);
    expect(mesh.output("unix-client")).not.toMatch(/MISMATCH/);
    const payload = Buffer.alloc(1 << 20);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7919) & 0xff;
    const back = await echoOn(await openSocket(join(mesh.rootOf("unix-client"), "run/pv/services/raw.sock")), payload);
    expect(back.equals(payload)).toBe(true);
  });

  it("rest: the client prints the provider's JSON with the identity the mesh gave it", async () => {
    const line = await mesh.waitForOutput("rest-client", /GET \/info -> 200/);
    const body = JSON.parse(line.slice(line.indexOf("{"))) as Record<string, string>;
    expect(body).toEqual(
      profile === "documented"
        ? { service: "rest-example", status: "active", role: "any", client: "rest-client" }
        : { service: "rest-example", status: "active", role: "unknown", client: "unknown" },
    );
  });

  it("rest: a client's own X-PV-Role is replaced (documented) or passed on (master), and grants nothing", async () => {
    const target = join(mesh.rootOf("rest-client"), "run/pv/services/api.sock");
    const spoofed = { "X-PV-Role": "admin", "X-PV-Client": "unix-server" };
    const info = await get(target, "/info", spoofed);
    expect(JSON.parse(info.body)).toMatchObject(profile === "documented" ? { role: "any", client: "rest-client" } : { role: "admin", client: "unix-server" });
    const admin = await get(target, "/admin", spoofed);
    expect(admin.status).toBe(403);
  });

  it("ends: a consumer's half-close reaches the provider only under documented", async () => {
    const target = join(mesh.rootOf("unix-client"), "run/pv/services/raw.sock");
    const events = await collect(target, (socket) => socket.end("bye"), 400);
    // The echo server closes when its client is done: under master it is never told.
    expect(events).toEqual(profile === "documented" ? ["data:bye", "end"] : ["data:bye"]);
  });

  it("ends: under master the consumer sees the provider's close only after the idle linger", async () => {
    const target = join(mesh.rootOf("rest-client"), "run/pv/services/api.sock");
    const early = await collect(target, (socket) => socket.write("GET /info HTTP/1.0\r\n\r\n"), 400);
    expect(early[0]).toMatch(/^data:HTTP\/1\.[01] 200/);
    expect(early.at(-1) === "end").toBe(profile === "documented");
    if (profile === "master") {
      const late = await collect(target, (socket) => socket.write("GET /info HTTP/1.0\r\n\r\n"), 1600);
      expect(late.at(-1)).toBe("end"); // lingerMs is 1000 in these tests (60 s on a device)
    }
  });

  it("a provider killed and restarted: its stale socket is replaced, the client recovers by itself", async () => {
    const before = mesh.graph().find((e) => e.provider === "unix-server")!.provider_pid;
    await mesh.stop("unix-server", "SIGKILL");
    expect(existsSync(join(mesh.rootOf("unix-server"), "run/example/raw.sock"))).toBe(true); // left behind
    const mark = mesh.mark("unix-client");
    await mesh.waitForOutput("unix-client", /provider not re|not reachable|closed/, 10_000, mark);
    await mesh.start("unix-server");
    await mesh.waitForOutput("unix-server", /echoing on/, 10_000, 0);
    await mesh.waitForOutput("unix-client", /echo OK/, 10_000, mesh.mark("unix-client"));
    const after = mesh.graph().find((e) => e.provider === "unix-server")!.provider_pid;
    expect(after).toBeGreaterThan(0);
    expect(after).not.toBe(before);
  });
});

describe("the graph endpoint", () => {
  const fixture = tempDir("pv-graph-");
  let mesh: Mesh;
  beforeAll(async () => {
    // A fixture repo: the real unix pair, plus a consumer whose requirement has no target.
    const containers = join(fixture.path, "containers");
    mkdirSync(join(containers, "untargeted"), { recursive: true });
    for (const name of ["unix-server", "unix-client"]) symlinkSync(join(REPO, "containers", name), join(containers, name));
    symlinkSync(join(REPO, "dist"), join(fixture.path, "dist"));
    writeFileSync(join(containers, "untargeted", "container.json"), JSON.stringify({ program: "unix-client" }));
    writeFileSync(join(containers, "untargeted", "args.json"), JSON.stringify({ PV_SERVICES_REQUIRED: [{ name: "raw", role: "reader", interface: "echo" }] }));
    mesh = await startMesh({
      containers: [{ name: "unix-server" }, { name: "unix-client", args: FAST }, { name: "untargeted", args: FAST }],
      profile: "documented",
      repoRoot: fixture.path,
    });
  });
  afterAll(async () => {
    await mesh?.close();
    fixture.remove();
  });

  it("answers in one write, with pv-xconnect's keys in order and live pids", async () => {
    const { first, all } = await getGraph(mesh.ctrlSocket);
    expect(first).toBe(all);
    expect(first).toMatch(/^HTTP\/1\.0 200 OK\r\n/);
    const graph = JSON.parse(all.slice(all.indexOf("\r\n\r\n") + 4)) as Record<string, unknown>[];
    expect(graph).toHaveLength(2);
    for (const entry of graph) {
      expect(Object.keys(entry)).toEqual(["consumer", "consumer_pid", "provider", "provider_pid", "name", "type", "role", "interface", "target", "socket"]);
    }
    expect(graph[0]).toEqual({
      consumer: "unix-client", consumer_pid: mesh.pid("unix-client"), provider: "unix-server", provider_pid: mesh.pid("unix-server"),
      name: "raw", type: "unix", role: "any", interface: "unix", target: "/run/pv/services/raw.sock", socket: "/run/example/raw.sock",
    });
    expect(graph[0]!.consumer_pid).toBeGreaterThan(0);
    expect(graph[1]).toMatchObject({ consumer: "untargeted", role: "reader", interface: "echo", target: null });
  });

  it("shows -1 for a stopped container", async () => {
    await mesh.stop("unix-server");
    const { all } = await getGraph(mesh.ctrlSocket);
    const graph = JSON.parse(all.slice(all.indexOf("\r\n\r\n") + 4)) as { provider_pid: number }[];
    expect(graph.map((e) => e.provider_pid)).toEqual([-1, -1]);
  });

  it("refuses a mesh whose consumer requires a service nobody exports", async () => {
    await expect(startMesh({ containers: [{ name: "unix-client" }], profile: "master", repoRoot: fixture.path })).rejects.toThrow(
      'unix-client: requires service "raw", which no container exports',
    );
  });
});
