// Bounded waiting for a path (a socket or a device node that the mesh injects). Containers start
// in no particular order on a device, and pv-xconnect injects a consumer's socket only after both
// containers run and its next 5 s poll: a missing path is expected for a while and is reported as
// progress, not as an error. How long is the program's --wait (WAIT_SECONDS by default).
import { existsSync } from "node:fs";
import { log } from "./log";
import type { OptionSpec } from "./cli";
import { positiveNumber } from "./cli";
import { sleep } from "./shutdown";

/** The default bound: pv-xconnect's 5 s poll after both containers start, plus a provider's start-up. */
export const WAIT_SECONDS = 30;
/** How often the path is looked at (a stat is cheap; the sooner we see it, the sooner we start). */
const POLL_MS = 100;
/** How often a "still waiting" line is printed. */
const REPORT_EVERY_MS = 5000;

/** The --wait option, the same for every program that waits for something the mesh provides. */
export const WAIT_OPTION = {
  type: "string",
  value: "SECONDS",
  default: String(WAIT_SECONDS),
  help: "how long to wait for the socket or device the mesh injects before giving up with exit 1",
} as const satisfies OptionSpec;

/** Reads --wait. */
export function waitSeconds(text: string): number {
  return positiveNumber("wait", text);
}

export interface WaitOptions {
  waitSeconds: number;
  /** What the path is, for the log lines: "Wayland socket", "DRM device". */
  what: string;
  signal?: AbortSignal;
}

/** Resolves true once `path` exists; false when `waitSeconds` passed first (or when stopped). */
export async function waitForPath(path: string, options: WaitOptions): Promise<boolean> {
  if (existsSync(path)) return true;
  const started = Date.now();
  const deadline = started + options.waitSeconds * 1000;
  log(`waiting up to ${options.waitSeconds} s for ${options.what} at ${path}: not there yet`);
  let nextReport = started + REPORT_EVERY_MS;
  while (!options.signal?.aborted && Date.now() < deadline) {
    await sleep(Math.min(POLL_MS, deadline - Date.now()), options.signal);
    if (existsSync(path)) return true;
    if (Date.now() >= nextReport && Date.now() < deadline) {
      log(`still waiting for ${options.what} at ${path} (${Math.round((Date.now() - started) / 1000)} s of ${options.waitSeconds} s)`);
      nextReport += REPORT_EVERY_MS;
    }
  }
  return existsSync(path);
}
