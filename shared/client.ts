// What every periodic consumer (unix-, rest-, dbus-client) shares: its tick options, and the
// plain-words reason for the socket failures that are expected while a provider starts, restarts
// or is not linked yet. The request itself, and what a good reply looks like, stay in each example.
import { reason } from "./log";
import { FatalError } from "./run";

export interface TickOptions {
  intervalSeconds: number;
  /** Stop after this many good replies (Infinity: until SIGTERM). */
  count: number;
}

/** Reads --interval SECONDS and --count N (both optional, both positive). */
export function tickOptions(values: { interval?: string; count?: string }, defaultIntervalSeconds: number): TickOptions {
  const intervalSeconds = Number(values.interval ?? defaultIntervalSeconds);
  const count = values.count === undefined ? Infinity : Number(values.count);
  if (!(intervalSeconds > 0) || !(count > 0)) throw new FatalError("--interval and --count must be positive numbers");
  return { intervalSeconds, count };
}

/** The expected socket failures, said plainly; null for anything else (the caller explains it). */
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
