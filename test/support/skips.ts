// Every skip says why, in the run's output. A test or group that cannot run here (not root, a tool
// missing) is skipped through skipUnless(), which records the reason; the global teardown
// (test/support/build.ts) prints one line per skipped group after the run, and scripts/test.sh
// fails the run when vitest reports a skipped test whose file recorded no reason.
//   describe.skipIf(skipUnless(AS_ROOT, "D-Bus mesh", "needs root: ..."))("...", () => { ... });
//   it("...", (context) => { if (skipUnless(IS_ROOT, "drm injection", NOT_ROOT)) return context.skip(NOT_ROOT); ... });
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, relative } from "node:path";

const FILE = join(__dirname, "..", "..", "results", "skips.jsonl");
const REPO = join(__dirname, "..", "..");

export interface Skip {
  file: string;
  group: string;
  reason: string;
}

/** The test file that called us (from the stack), relative to the repo. */
function callerFile(): string {
  const line = (new Error().stack ?? "").split("\n").find((frame) => /\.test\.ts/.test(frame)) ?? "";
  const path = /\(?((?:file:\/\/)?\/[^():]+\.test\.ts)/.exec(line)?.[1]?.replace(/^file:\/\//, "");
  return path ? relative(REPO, path) : "(unknown file)";
}

/**
 * Returns true when `condition` does not hold, after recording `reason` for `group`: pass the result
 * to describe.skipIf / it.skipIf, or return context.skip(reason) when it is true.
 */
export function skipUnless(condition: boolean, group: string, reason: string): boolean {
  if (condition) return false;
  mkdirSync(join(FILE, ".."), { recursive: true });
  const skip: Skip = { file: callerFile(), group, reason };
  appendFileSync(FILE, JSON.stringify(skip) + "\n");
  console.warn(`skipped: ${skip.file}: ${group}: ${reason}`);
  return true;
}

export function resetSkips(): void {
  rmSync(FILE, { force: true });
}

/** The recorded skips, one per group (the same group may be recorded by several workers). */
export function recordedSkips(): Skip[] {
  if (!existsSync(FILE)) return [];
  const seen = new Map<string, Skip>();
  for (const line of readFileSync(FILE, "utf8").trim().split("\n").filter(Boolean)) {
    const skip = JSON.parse(line) as Skip;
    seen.set(`${skip.file}|${skip.group}`, skip);
  }
  return [...seen.values()].sort((a, b) => `${a.file}${a.group}`.localeCompare(`${b.file}${b.group}`));
}
