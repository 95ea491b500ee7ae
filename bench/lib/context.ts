// What every row gets from the runner: the settings of this run (full or --quick), where the repo
// and a scratch directory are, and a way to run a load generator in a process of its own.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { LoadOptions, LoadResult } from "../load";
import type { Figure } from "./figures";

export interface Settings {
  quick: boolean;
  /** Rounds per figure; ours and the baseline alternate within each round. */
  rounds: number;
  warmupSeconds: number;
  /** The measured window of each load round. */
  loadSeconds: number;
  /** Cold starts per program for spawn-to-ready. */
  coldStarts: number;
  /** How long a started program is left alone before its RSS is read. */
  idleMs: number;
  /** Wayland frames per round. */
  frames: number;
}

export const FULL: Settings = { quick: false, rounds: 7, warmupSeconds: 0.3, loadSeconds: 1.5, coldStarts: 10, idleMs: 300, frames: 300 };
export const QUICK: Settings = { quick: true, rounds: 1, warmupSeconds: 0.1, loadSeconds: 0.25, coldStarts: 1, idleMs: 100, frames: 20 };

export interface Context {
  repo: string;
  settings: Settings;
  /** A scratch directory for this run (sockets, compiled baselines); removed at the end. */
  scratch: string;
  log(line: string): void;
}

export interface Row {
  /** The name --only selects. */
  name: string;
  /** The path measured, as the table shows it. */
  title: string;
  run(context: Context): Promise<Figure[]>;
}

/** The bundle of a program, or null when it has not been built. */
export function bundleOf(context: Context, program: string): string | null {
  const path = join(context.repo, "dist", program, "main.js");
  return existsSync(path) ? path : null;
}

/** Runs one load generator in a process of its own (this same bundle, in --worker mode). */
export function runLoad(kind: string, options: LoadOptions): Promise<LoadResult> {
  const timeoutMs = (options.warmupSeconds + options.seconds) * 1000 + 15_000;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [__filename, "--worker", kind, "--options", JSON.stringify(options)], { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`load generator ${kind} on ${options.socket} failed: ${stderr.trim() || error.message}`));
      try {
        resolve(JSON.parse(stdout.trim().split("\n").pop()!) as LoadResult);
      } catch {
        reject(new Error(`load generator ${kind} printed no result: ${stdout.trim()}`));
      }
    });
  });
}

/**
 * Runs `measure` for every side in each round, alternating the order from round to round, so a
 * slow patch of the shared machine falls on ours and the baseline alike.
 */
export async function inRounds<Side>(rounds: number, sides: Side[], measure: (side: Side) => Promise<void>): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) await measure(side);
  }
}
