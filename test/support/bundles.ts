// Where the built bundles are, and temp directories that clean up after themselves.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ChildProgram, type ProgramOptions } from "../../mesh/process";

export const REPO = resolve(__dirname, "..", "..");

export function bundle(program: string): string {
  return join(REPO, "dist", program, "main.js");
}

/** A fresh temp directory; call the returned function (e.g. in afterEach) to remove it. */
export function tempDir(prefix = "pv-test-"): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

const scratchDirs: string[] = [];

/**
 * A fresh temp directory that cleanUp() removes. `prefix` is a name under the temp directory, or an
 * absolute path prefix (a short one such as /tmp/pv-wl- keeps socket paths under their 107 bytes).
 */
export function scratchDir(prefix = "pv-test-"): string {
  const path = mkdtempSync(prefix.startsWith("/") ? prefix : join(tmpdir(), prefix));
  scratchDirs.push(path);
  return path;
}

/** Runs a program bundle; remember it in `running` so that afterEach can stop whatever is left. */
export function run(program: string, options: Omit<ProgramOptions, "name" | "bundle"> & { name?: string } = {}): ChildProgram {
  const child = new ChildProgram({ name: options.name ?? program, bundle: bundle(program), ...options });
  child.start();
  running.add(child);
  return child;
}

export const running = new Set<ChildProgram>();

/** Stops every program started with run() (SIGKILL: the test is over). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((child) => (child.running ? child.stop("SIGKILL") : Promise.resolve())));
  running.clear();
}

/** For afterEach: stops what run() started, then removes the scratch directories. */
export async function cleanUp(): Promise<void> {
  await stopAll();
  for (const path of scratchDirs.splice(0)) rmSync(path, { recursive: true, force: true });
}
