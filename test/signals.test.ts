// SIGTERM to each unix/REST program: exit 0 within a second, its socket removed.
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cleanUp, run, scratchDir } from "./support/bundles";

afterEach(cleanUp);

describe.each([
  { program: "unix-server", socket: "run/example/raw.sock", ready: /echoing on/ },
  { program: "rest-server", socket: "run/example/api.sock", ready: /serving GET \/info/ },
])("$program", ({ program, socket, ready }) => {
  it("prints its effective socket, then on SIGTERM exits 0 within 1 s and removes it", async () => {
    const dir = scratchDir();
    const server = run(program, { env: { PV_ROOT: dir } });
    expect(await server.waitForOutput(ready)).toContain(join(dir, socket));
    expect(existsSync(join(dir, socket))).toBe(true);
    const exit = await server.stop("SIGTERM", 1000); // SIGKILL after 1 s would show as signal SIGKILL
    expect(exit).toEqual({ code: 0, signal: null });
    expect(existsSync(join(dir, socket))).toBe(false);
  });

  it("replaces the stale socket left by a killed instance", async () => {
    const dir = scratchDir();
    const killed = run(program, { env: { PV_ROOT: dir } });
    await killed.waitForOutput(ready);
    await killed.stop("SIGKILL");
    expect(existsSync(join(dir, socket))).toBe(true);
    const server = run(program, { env: { PV_ROOT: dir } });
    await server.waitForOutput(ready);
    expect(await server.stop("SIGTERM", 1000)).toEqual({ code: 0, signal: null });
  });

  it("refuses to delete a regular file at its socket path: one clear line, exit 1", async () => {
    const dir = scratchDir();
    mkdirSync(join(dir, socket, ".."), { recursive: true });
    writeFileSync(join(dir, socket), "somebody's data");
    const server = run(program, { env: { PV_ROOT: dir } });
    const exit = await server.exited();
    expect(exit.code).toBe(1);
    expect(server.output()).toMatch(new RegExp(`FAILED: refusing to replace ${join(dir, socket)}: it is a regular file, not a socket`));
    expect(server.output()).not.toMatch(/\n\s+at /); // one clear line, no stack
  });
});

describe.each(["unix-client", "rest-client"])("%s", (program) => {
  it("says the socket is not there yet, keeps retrying, and exits 0 on SIGTERM within 1 s", async () => {
    const dir = scratchDir();
    const client = run(program, { env: { PV_ROOT: dir }, args: ["--interval", "0.2"] });
    await client.waitForOutput(/not there yet \(ENOENT\), retrying in 0\.2 s/);
    await client.waitForOutput(/not there yet/, 5000, client.mark()); // still alive, still trying
    expect(await client.stop("SIGTERM", 1000)).toEqual({ code: 0, signal: null });
  });

  it("rejects a bad --interval as a usage error: one line plus try --help, exit 2", async () => {
    const client = run(program, { args: ["--interval", "soon"] });
    expect((await client.exited()).code).toBe(2);
    expect(client.output().split("\n")).toEqual([`${program}: --interval must be a positive number, got "soon"`, "try --help"]);
  });
});
