// Socket-file hygiene for servers: a server killed with SIGKILL leaves its socket file behind, and
// binding over it fails with EADDRINUSE. Only a *socket* is removed: a regular file or directory at
// that path is somebody's data and stops the program instead.
import { accessSync, constants, lstatSync, mkdirSync, rmSync, type Stats } from "node:fs";
import { dirname } from "node:path";
import { systemErrorLine } from "./errors";
import { FatalError } from "./run";

/** Creates the parent directory and removes a stale socket at `path`. Throws on anything else there. */
export function prepareSocketPath(path: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    // mkdir succeeds on a directory that exists but that we may not enter: ask now, so the line names
    // the directory rather than the socket file we could not look at inside it. (One we may enter but
    // not write is reported by listen(), naming the socket.)
    accessSync(dirname(path), constants.X_OK);
  } catch (error) {
    throw new FatalError(systemErrorLine(error, `cannot create or enter ${dirname(path)}`) ?? `cannot create or enter ${dirname(path)}: ${String(error)}`);
  }
  const stat = lstatOrNull(path);
  if (stat === null) return;
  if (!stat.isSocket()) {
    throw new FatalError(`refusing to replace ${path}: it is a ${describe(stat)}, not a socket`);
  }
  rmSync(path);
}

/** Removes the socket at `path` if one is there (used on shutdown). */
export function removeSocket(path: string): void {
  if (lstatOrNull(path)?.isSocket()) rmSync(path, { force: true });
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new FatalError(systemErrorLine(error, `cannot inspect ${path}`) ?? `cannot inspect ${path}: ${String(error)}`);
  }
}

function describe(stat: Stats): string {
  if (stat.isDirectory()) return "directory";
  if (stat.isFile()) return "regular file";
  if (stat.isSymbolicLink()) return "symbolic link";
  return "special file";
}

/** A listen() failure as one clear line: `cannot listen on /run/example/raw.sock: EACCES (check: ...)`. */
export function listenError(path: string, error: unknown): FatalError {
  return new FatalError(systemErrorLine(error, `cannot listen on ${path}`) ?? `cannot listen on ${path}: ${String(error)}`);
}
