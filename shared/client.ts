// What every periodic consumer (unix-, rest-, dbus-client) shares: its tick options, the loop that
// runs one exchange per tick, and the plain-words reason for the socket failures that are expected
// while a provider starts, restarts or is not linked yet. The exchange itself, and what a good reply
// looks like, stay in each example.
//
// The loop's rules, the same for every client:
//   - an expected failure (socket not there yet, connection refused or closed, or what the example's
//     own `explain` recognises) is one line, then a retry at the next tick;
//   - any other error the system reports (EACCES, ENOTSOCK, ...) ends the program with one line
//     (shared/run.ts), since retrying would not change it;
//   - with --count N the client is a one-shot check: it exits 0 after N good exchanges, and gives up
//     (one line, exit 1) after --wait seconds without one. Without --count it runs until SIGTERM and
//     retries for ever, which is a container's normal life;
//   - the young generation of V8's heap keeps its initial size (see keepYoungGenerationSmall).
import { setFlagsFromString } from "node:v8";
import { positiveInteger, positiveNumber, type OptionSpec } from "./cli";
import { errnoOf } from "./errors";
import { log, reason } from "./log";
import { FatalError } from "./run";
import { sleep } from "./shutdown";
import { WAIT_OPTION, WAIT_SECONDS } from "./wait";

export interface TickOptions {
  intervalSeconds: number;
  /** Stop after this many good exchanges (Infinity: until SIGTERM). */
  count: number;
  /** With a count: give up after this long without a good exchange. */
  waitSeconds: number;
}

/** The options every periodic client takes (beside --socket and its own). */
export function tickOptionSpecs(defaultIntervalSeconds: number) {
  return {
    interval: { type: "string", value: "SECONDS", default: String(defaultIntervalSeconds), help: "time between two exchanges" },
    count: { type: "string", value: "N", help: "exit 0 after N good exchanges (default: run until SIGTERM)" },
    wait: { ...WAIT_OPTION, help: "with --count: give up (exit 1) after this long without a good exchange" },
  } as const satisfies Record<string, OptionSpec>;
}

/** Reads --interval, --count and --wait. */
export function tickOptions(values: { interval: string; count?: string; wait: string }): TickOptions {
  return {
    intervalSeconds: positiveNumber("interval", values.interval),
    count: values.count === undefined ? Infinity : positiveInteger("count", values.count),
    waitSeconds: values.wait === undefined ? WAIT_SECONDS : positiveNumber("wait", values.wait),
  };
}

/** The expected socket failures, said plainly; null for anything else. */
export function socketProblem(path: string, error: unknown): string | null {
  switch (reason(error)) {
    case "ENOENT":
      return `socket ${path} not there yet (ENOENT)`;
    case "ECONNREFUSED":
      return `connection to ${path} refused (ECONNREFUSED): provider not ready`;
    case "EPIPE":
    case "ECONNRESET":
      // What a consumer sees when the mesh cannot reach the provider and drops the connection.
      return `connection to ${path} closed by the other side (${reason(error)}): provider not reachable`;
    default:
      return null;
  }
}

export interface TickLoop {
  /** One exchange: resolves null for a good one (it logs its own result), or what was wrong with the reply. */
  exchange(): Promise<string | null>;
  /** The plain-words reason for an expected failure, or null when the error is not expected. */
  explain(error: unknown): string | null;
}

/**
 * V8 grows the young generation (where new objects live until they survive two collections) each
 * time enough objects have survived since the last growth, from 1 MB per half to 16 MB, and never
 * gives it back. A client's exchanges leave a few survivors each, so it gets there in the end:
 * dbus-client, 20 exchanges a second, within a minute (RSS 90 MB instead of 64 MB, bench/README.md).
 * A client that exchanges every few seconds gains nothing from a large one. V8 reads this flag
 * each time it would grow it, so setting it once the program runs is enough.
 */
function keepYoungGenerationSmall(): void {
  setFlagsFromString("--semi-space-growth-factor=1");
}

const STOPPED: unique symbol = Symbol("stopped");

/**
 * `exchange()`, or STOPPED as soon as `signal` is aborted: a stop signal does not wait for an
 * exchange in flight (up to its reply timeout); the process ends, and its connection with it.
 * The abort listener is removed after each exchange. (Racing every exchange against one promise
 * that stays pending until the end would add a reaction to it per exchange, for ever: a leak.)
 */
function untilStopped(exchange: () => Promise<string | null>, signal: AbortSignal): Promise<string | null | typeof STOPPED> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => resolve(STOPPED);
    signal.addEventListener("abort", onAbort, { once: true });
    exchange()
      .then(resolve, reject)
      .finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** Runs `loop.exchange()` every tick until `count` good ones, SIGTERM, or --wait without one. */
export async function everyTick(options: TickOptions, signal: AbortSignal, loop: TickLoop): Promise<void> {
  keepYoungGenerationSmall();
  const { intervalSeconds, count, waitSeconds } = options;
  let good = 0;
  let lastGood = Date.now();
  while (!signal.aborted && good < count) {
    let problem: string | null;
    try {
      const outcome = await untilStopped(() => loop.exchange(), signal);
      if (outcome === STOPPED) break;
      problem = outcome;
    } catch (error) {
      problem = loop.explain(error);
      // Not an expected condition: an errno error ends the program with one line (shared/run.ts);
      // anything else is reported and retried like the expected ones, with its message.
      if (problem === null && errnoOf(error) !== null) throw error;
      problem ??= error instanceof Error ? error.message : String(error);
    }
    if (problem === null) {
      good++;
      lastGood = Date.now();
    } else if (Number.isFinite(count) && Date.now() - lastGood >= waitSeconds * 1000) {
      throw new FatalError(`gave up after ${waitSeconds} s without a good exchange (--wait): ${problem}`);
    } else {
      log(`${problem}, retrying in ${intervalSeconds} s`);
    }
    if (good < count) await sleep(intervalSeconds * 1000, signal);
  }
}
