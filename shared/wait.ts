// Waiting for a path (a socket or a device node that the mesh injects). Containers start in no
// particular order on a device, so a consumer's socket may not exist yet: that is an expected
// condition, reported as one line per attempt, not an error.
import { existsSync } from "node:fs";
import { log } from "./log";
import { sleep } from "./shutdown";

export interface WaitOptions {
  attempts: number;
  intervalMs: number;
  /** What the path is, for the log line: "Wayland socket", "DRM device". */
  what: string;
  signal?: AbortSignal;
}

/** Resolves true once `path` exists, false after the last attempt (or when stopped). */
export async function waitForPath(path: string, options: WaitOptions): Promise<boolean> {
  for (let attempt = 1; attempt <= options.attempts; attempt++) {
    if (existsSync(path)) return true;
    if (options.signal?.aborted) return false;
    log(`waiting for ${options.what} at ${path} (attempt ${attempt}/${options.attempts}): not there yet`);
    await sleep(options.intervalMs, options.signal);
  }
  return existsSync(path);
}
