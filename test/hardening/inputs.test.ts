// Hardening: what is on disk (stale sockets, files in the way, missing or unwritable directories),
// malformed manifests, and role abuse through the mesh.
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startMesh, type Mesh } from "../../mesh/xconnect";
import { cleanUp, REPO, run, scratchDir } from "../support/bundles";
import { record } from "../support/figures";
import { skipUnless } from "../support/skips";

afterEach(cleanUp);

describe.each(["unix-server", "rest-server"])("%s and the files on disk", (program) => {
  it("a directory at the socket path is not deleted: one clear line, exit 1", async () => {
    const path = join(scratchDir(), "busy.sock");
    mkdirSync(path);
    writeFileSync(join(path, "keep-me"), "data");
    const server = run(program, { args: ["--socket", path] });
    expect((await server.exited()).code).toBe(1);
    expect(server.output()).toMatch(`FAILED: refusing to replace ${path}: it is a directory, not a socket`);
    expect(existsSync(join(path, "keep-me"))).toBe(true);
  });

  it("a missing parent directory is created", async () => {
    const path = join(scratchDir(), "a", "b", "c", "server.sock");
    const server = run(program, { args: ["--socket", path] });
    await server.waitForOutput(/on /);
    expect(statSync(path).isSocket()).toBe(true);
  });

  it.skipIf(skipUnless(process.getuid?.() === 0, "unwritable directory as nobody", "needs root, to run the server as nobody"))("an unwritable directory gives one clear line and exit 1 (run as nobody; needs root)", async () => {
    const dir = scratchDir();
    chmodSync(dir, 0o755); // owned by root: nobody may not create the socket here
    const path = join(dir, "server.sock");
    const server = run(program, { args: ["--socket", path], uid: 65534, gid: 65534 });
    expect((await server.exited()).code).toBe(1);
    expect(server.output()).toMatch(`FAILED: cannot listen on ${path}: EACCES`);
    expect(server.output()).not.toMatch(/^\s+at /m);
  });
});

describe("malformed manifests in the mesh", () => {
  const cases: [string, string, string, RegExp][] = [
    ["bad JSON", "services.json", "{", /provider\/services\.json: invalid JSON/],
    ["wrong type", "services.json", '[{"name": "raw", "type": 5, "socket": "/s"}]', /provider\/services\.json: services\[0\]\.type: must be a non-empty string/],
    ["missing name", "args.json", '{"PV_SERVICES_REQUIRED": [{"target": "/t"}]}', /provider\/args\.json: PV_SERVICES_REQUIRED\[0\]\.name: missing/],
    ["duplicate target", "args.json", '{"PV_SERVICES_REQUIRED": [{"name": "a", "target": "/t"}, {"name": "b", "target": "/t"}]}', /PV_SERVICES_REQUIRED\[1\]\.target: duplicate target "\/t"/],
  ];
  it.each(cases)("%s: startMesh refuses, naming the file and the field", async (_name, file, text, message) => {
    const repo = scratchDir();
    mkdirSync(join(repo, "containers", "provider"), { recursive: true });
    symlinkSync(join(REPO, "dist"), join(repo, "dist"));
    writeFileSync(join(repo, "containers", "provider", "container.json"), JSON.stringify({ program: "unix-server" }));
    writeFileSync(join(repo, "containers", "provider", file), text);
    await expect(startMesh({ containers: [{ name: "provider" }], profile: "documented", repoRoot: repo })).rejects.toThrow(message);
    record({ area: "mesh", check: `malformed manifest: ${_name}`, inputs: 1, crashes: 0, note: "refused with file + field" });
  });
});

describe("role abuse through the mesh (documented)", () => {
  let mesh: Mesh;
  beforeAll(async () => {
    mesh = await startMesh({
      containers: [{ name: "unix-server" }, { name: "unix-client" }, { name: "rest-server" }, { name: "rest-client" }],
      profile: "documented",
    });
    await mesh.waitForOutput("rest-server", /serving GET/);
  });
  afterAll(() => mesh?.close());

  function infoVia(headers: [string, string][]): Promise<Record<string, string>> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: join(mesh.rootOf("rest-client"), "run/pv/services/api.sock"), path: "/info", agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve(JSON.parse(body) as Record<string, string>));
      });
      for (const [name, value] of headers) req.appendHeader(name, value);
      req.on("error", reject);
      req.end();
    });
  }

  it("spoofed identity headers never reach the provider, whatever their spelling or number", async () => {
    const attempts: [string, string][][] = [
      [["X-PV-Role", "admin"]],
      [["x-pv-role", "admin"], ["X-PV-ROLE", "root"]],
      [["X-Pv-Client", "unix-server"], ["x-pv-client", "root"]],
      [["X-PV-Role", "admin"], ["X-PV-Client", "rest-server"], ["X-PV-Extra", "1"]],
    ];
    for (const headers of attempts) {
      expect(await infoVia(headers)).toMatchObject({ role: "any", client: "rest-client" });
    }
    record({ area: "mesh (rest)", check: "spoofed X-PV-* headers, documented", inputs: attempts.length, crashes: 0, note: "all replaced by the mesh" });
  });

  it("a consumer gets only the services it required", () => {
    const injected = (name: string): string[] => readdirSync(join(mesh.rootOf(name), "run/pv/services"));
    expect(injected("unix-client")).toEqual(["raw.sock"]);
    expect(injected("rest-client")).toEqual(["api.sock"]);
    expect(existsSync(join(mesh.rootOf("unix-server"), "run/pv"))).toBe(false);
  });
});
