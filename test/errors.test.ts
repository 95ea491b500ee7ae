// Errors the system reports are one plain line with what to check, never a stack trace (shared/run.ts,
// shared/errors.ts), checked as a device would produce them:
//   - a DRM node injected by mknod with no driver behind it (a provider image naming a node this
//     kernel lacks): every DRM program says so in one FAILED line with the hint, exit 1;
//   - a socket path in a directory the program cannot reach, for a server and a client: the errno and
//     the permission hint, exit 1.
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { bundle, cleanUp, scratchDir } from "./support/bundles";
import { skipUnless } from "./support/skips";

const IS_ROOT = process.getuid?.() === 0;
const NOBODY = 65534;
const STACK = /^\s+at /m;
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;

function run(program: string, args: string[], asNobody = false): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [bundle(program), ...args], {
    encoding: "utf8",
    timeout: 20_000,
    ...(asNobody ? { uid: NOBODY, gid: NOBODY } : {}),
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** stderr's lines without their timestamps. */
function failureLines(stderr: string): string[] {
  return stderr.trimEnd().split("\n").map((line) => line.replace(TIMESTAMP, ""));
}

describe("a DRM node with no driver behind it", () => {
  afterEach(cleanUp);
  const NOT_ROOT = "making a device node (mknod) needs root";
  // Minors far above any card or render node a machine has, so no driver answers them whether or
  // not a DRM driver is loaded here (ENXIO without one, ENODEV with one).
  const NO_DRIVER = /: (ENXIO|ENODEV) \(check: no driver behind this node: .+\)$/;

  function fakeNode(name: string, minor: number): string {
    const path = join(scratchDir("pv-fake-dri-"), name);
    execFileSync("mknod", [path, "c", "226", String(minor)]);
    return path;
  }

  it.for([
    ["drm-render", (node: string) => ["--device", node], "renderD191", 191],
    ["drm-master", (node: string) => ["--device", node], "card63", 63],
    ["drm-provider", (node: string) => ["--master", node, "--render", "/nonexistent/renderD128"], "card63", 63],
  ] as const)("%s: one FAILED line with the hint, exit 1, no stack", ([program, args, name, minor], context) => {
    if (skipUnless(IS_ROOT, "fake DRM nodes", NOT_ROOT)) return context.skip(NOT_ROOT);
    const node = fakeNode(name, minor);
    const { status, stderr } = run(program, args(node));
    expect(stderr).not.toMatch(STACK);
    expect(failureLines(stderr)).toEqual([expect.stringMatching(new RegExp(`^FAILED: cannot open ${node}${NO_DRIVER.source}`))]);
    expect(status).toBe(1);
  });
});

describe("a socket in a directory the program may not enter", () => {
  afterEach(cleanUp);
  const PERMISSIONS = "EACCES (check: permissions: the owner and mode of the path and of every directory on the way to it)";

  /** A directory this test's program cannot search: root-only for nobody when we are root, mode 000 otherwise. */
  function lockedDirectory(): string {
    const dir = join(scratchDir("pv-locked-"), "locked");
    mkdirSync(dir);
    chmodSync(dir, IS_ROOT ? 0o700 : 0o000);
    return dir;
  }

  it.each([
    // A server first creates (or enters) the socket's directory; a client connects.
    ["unix-server", (path: string) => ["--socket", path], (path: string) => `cannot create or enter ${dirname(path)}`],
    ["rest-server", (path: string) => ["--socket", path], (path: string) => `cannot create or enter ${dirname(path)}`],
    ["unix-client", (path: string) => ["--socket", path, "--count", "1"], (path: string) => `cannot connect ${path}`],
    ["rest-client", (path: string) => ["--socket", path, "--count", "1"], (path: string) => `cannot connect ${path}`],
  ])("%s: one FAILED line naming the path, the errno and the hint, exit 1", (program, args, what) => {
    const path = join(lockedDirectory(), "api.sock");
    const { status, stdout, stderr } = run(program, args(path), IS_ROOT);
    expect(stderr).not.toMatch(STACK);
    expect(failureLines(stderr)).toEqual([`FAILED: ${what(path)}: ${PERMISSIONS}`]);
    expect(stdout).not.toMatch(/retrying/); // not an expected, passing condition: no retry
    expect(status).toBe(1);
  });
});
