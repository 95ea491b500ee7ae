// Every program ships as dist/<program>/: main.js (the loader, scripts/loader.cjs), app.js (the
// bundle) and app.cache (V8's code for it, scripts/code-cache.cjs). A cache V8 refuses costs
// nothing visible but the start-up it was made to save, so this checks that V8 takes every one,
// and that the program still starts where the cache is missing, and through a symlink, as
// /usr/bin/pv-example-<name> starts it in the image.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO, tempDir } from "./support/bundles";

const DIST = join(REPO, "dist");
const PROGRAMS = readdirSync(join(REPO, "containers")).filter((name) => existsSync(join(REPO, "containers", name, "main.ts")));

// In a node of its own, without V8 flags (as the program runs): vitest's own process may have some,
// and V8 refuses a cache made under other flags.
const CACHE_TAKEN = `
const { readFileSync } = require("node:fs");
const { Script } = require("node:vm");
const [app, cache] = process.argv.slice(1);
const script = new Script(readFileSync(app, "latin1"), { filename: app, cachedData: readFileSync(cache) });
process.stdout.write(script.cachedDataRejected ? "refused" : "taken");`;

function withoutNodeOptions(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return env;
}

describe("dist/<program>/: loader, bundle and code cache", () => {
  it.each(PROGRAMS)("%s: V8 takes app.cache for app.js", (program) => {
    const dir = join(DIST, program);
    for (const file of ["main.js", "app.js", "app.cache"]) expect(existsSync(join(dir, file)), `dist/${program}/${file}`).toBe(true);
    const verdict = execFileSync(process.execPath, ["-e", CACHE_TAKEN, join(dir, "app.js"), join(dir, "app.cache")], { encoding: "utf8", env: withoutNodeOptions() });
    expect(verdict).toBe("taken");
  });

  it("a program starts without its cache, and through a symlink to main.js", () => {
    const dir = tempDir("pv-code-cache-");
    try {
      cpSync(join(DIST, "unix-server"), join(dir.path, "unix-server"), { recursive: true });
      rmSync(join(dir.path, "unix-server", "app.cache"));
      symlinkSync(join(dir.path, "unix-server", "main.js"), join(dir.path, "pv-example-unix-server"));
      const version = execFileSync(join(dir.path, "pv-example-unix-server"), ["--version"], { encoding: "utf8" });
      expect(version.trim()).toMatch(/^unix-server \d+\.\d+\.\d+$/);
    } finally {
      dir.remove();
    }
  });
});
