// One command-line convention for every program (shared/cli.ts), checked on the bundles that ship:
// --help prints the usage on stdout and exits 0; --version prints the version; a mistake (unknown
// option, an option without its value, a bad value) is one line naming it plus "try --help" on
// stderr, exit 2, and never a stack trace.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "./support/bundles";

const VERSION = (JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string }).version;
const STACK = /^\s+at /m;

/** Every program that ships a bundle: the containers' own programs, the demo, the bench, the tools. */
const PROGRAMS: [name: string, bundle: string][] = [
  ...readdirSync(join(REPO, "containers"))
    .filter((name) => existsSync(join(REPO, "containers", name, "main.ts")))
    .map((name): [string, string] => [name, `dist/${name}/main.js`]),
  ["demo", "dist/mesh/demo.js"],
  ["bench", "dist/bench/main.js"],
  ...readdirSync(join(REPO, "tools")).map((name): [string, string] => [name, `dist/${name}/main.js`]),
];

function run(bundle: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [join(REPO, bundle), ...args], { encoding: "utf8", timeout: 20_000, env: { ...process.env, PV_ROOT: "/nonexistent-root" } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe.each(PROGRAMS)("%s", (name, bundle) => {
  it("--help: usage with options and their defaults, an example, exit 0", () => {
    const { status, stdout, stderr } = run(bundle, ["--help"]);
    expect(stderr).toBe("");
    expect(status).toBe(0);
    expect(stdout).toMatch(new RegExp(`^usage: ${name} \\[OPTIONS\\]`));
    expect(stdout).toMatch(/^options:$/m);
    expect(stdout).toMatch(/^ {2}--help +print this help and exit$/m);
    expect(stdout).toMatch(/^examples?:$/m);
  });

  it("--version prints the package version, exit 0", () => {
    const { status, stdout } = run(bundle, ["--version"]);
    expect(status).toBe(0);
    expect(stdout).toBe(`${name} ${VERSION}\n`);
  });

  it("an unknown option: one line plus try --help, exit 2, no stack", () => {
    const { status, stdout, stderr } = run(bundle, ["--bogus"]);
    expect(status).toBe(2);
    expect(stdout).toBe("");
    expect(stderr.split("\n")).toEqual([`${name}: unknown option --bogus`, "try --help", ""]);
  });

  it("an option without its value: one line plus try --help, exit 2, no stack", () => {
    // The first string option the usage lists.
    const option = /^ {2}(--[\w-]+) [A-Z]/m.exec(run(bundle, ["--help"]).stdout)?.[1];
    expect(option, "every program has at least one option that takes a value").toBeDefined();
    const { status, stderr } = run(bundle, [option!]);
    expect(status).toBe(2);
    expect(stderr.split("\n")).toEqual([`${name}: option ${option} needs a value`, "try --help", ""]);
    expect(stderr).not.toMatch(STACK);
  });
});

describe("bad values are usage errors too", () => {
  it.each([
    ["unix-client", ["--interval", "soon"], 'unix-client: --interval must be a positive number, got "soon"'],
    ["rest-client", ["--count", "0"], 'rest-client: --count must be a positive whole number, got "0"'],
    ["dbus-client", ["--wait", "-"], 'dbus-client: --wait must be a positive number, got "-"'],
    ["drm-master", ["--mode", "huge"], 'drm-master: --mode must look like 1024x768 or 1024x768@60, got "huge"'],
    ["wayland-client", ["--frames", "1.5"], 'wayland-client: --frames must be a positive whole number, got "1.5"'],
    ["demo", ["--profile", "mine"], 'demo: --profile must be one of documented, master, got "mine"'],
    ["bench", ["--only", "nosuch"], "bench: unknown row nosuch"],
  ])("%s %j", (name, args, line) => {
    const bundle = PROGRAMS.find(([program]) => program === name)![1];
    const { status, stderr } = run(bundle, args as string[]);
    expect(status).toBe(2);
    expect(stderr.split("\n")[0]).toMatch(new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
    expect(stderr.split("\n").slice(1)).toEqual(["try --help", ""]);
  });
});
