// What the system reports, said as one plain line with what to check. An error that carries an
// errno name (`code`: ENXIO, EACCES, EBUSY, ...), from a Node API or from one of the native
// bindings, is about the machine (the device, the socket, the permissions), not a bug in the
// program: the user needs the path, the errno and a hint, never a stack trace. Only errors without
// one (our own bugs) keep their stack (shared/run.ts decides, for every program).
import { lstatSync } from "node:fs";

/** What to check, per errno name. Device nodes and sockets get their own words where they differ. */
const HINTS: Record<string, { device?: string; other: string }> = {
  ENXIO: {
    device: "no driver behind this node: the kernel lacks its driver, or the provider's node names a device this board does not have",
    other: "no such device or address: nothing is behind this path",
  },
  ENODEV: {
    device: "no driver behind this node: the kernel lacks its driver, or the device is gone",
    other: "no such device",
  },
  EACCES: {
    device: "permissions: the node's owner and mode, or the container lacks the device cgroup rule for it",
    other: "permissions: the owner and mode of the path and of every directory on the way to it",
  },
  EPERM: {
    device: "permissions: this process lacks the privilege, CAP_SYS_ADMIN for a DRM master, or the container lacks the device cgroup rule",
    other: "not permitted for this user: a capability it lacks, or a file it does not own",
  },
  EBUSY: { device: "in use: another DRM master holds the card, a compositor or another modeset program", other: "the resource is in use by another process" },
  ENOENT: { device: "the node does not exist: is the provider running, and did the mesh inject it?", other: "the path does not exist: check it, or whether the mesh injected it yet" },
  ECONNREFUSED: { other: "nothing listens on this socket: is the provider running?" },
  ECONNRESET: { other: "the other side closed the connection: the provider stopped or is unreachable" },
  EPIPE: { other: "the other side closed the connection: the provider stopped or is unreachable" },
  EADDRINUSE: { other: "another process already listens there" },
  ENOTDIR: { other: "a part of the path is a file, not a directory" },
  EISDIR: { other: "the path is a directory" },
  ENOTTY: { other: "the file is not the device this program expects (for DRM: the node's major:minor belongs to another driver)" },
  ENOTSOCK: { other: "the path is not a socket" },
  EROFS: { other: "the file system is read-only: choose a writable path" },
  ENOSPC: { other: "no space left on the device" },
  EMFILE: { other: "too many open files in this process: ulimit -n" },
  ENFILE: { other: "too many open files on this system" },
  ENAMETOOLONG: { other: "the path is too long: a unix socket path must be under 108 bytes" },
  ETIMEDOUT: { other: "no answer in time" },
  ENOMEM: { other: "out of memory" },
  EINVAL: { device: "the driver refused the arguments: an unsupported mode or format?", other: "invalid argument" },
};

/** The error the system reported: `error` itself, or what it wraps (`cause`, as undici's do), when it has an errno name as `code`. */
function systemError(error: unknown): NodeJS.ErrnoException | null {
  for (let candidate = error, depth = 0; candidate instanceof Error && depth < 3; candidate = candidate.cause, depth++) {
    const code = (candidate as NodeJS.ErrnoException).code;
    if (typeof code === "string" && /^E[A-Z0-9]+$/.test(code)) return candidate;
  }
  return null;
}

/** The errno name of an error the system reported (ENXIO, EACCES, ...), or null. */
export function errnoOf(error: unknown): string | null {
  return systemError(error)?.code ?? null;
}

/** Whether `path` names a device node (it is one, or it lives under /dev). */
function isDeviceNode(path: string | undefined): boolean {
  if (path === undefined) return false;
  try {
    const stat = lstatSync(path);
    return stat.isCharacterDevice() || stat.isBlockDevice();
  } catch {
    return path.startsWith("/dev/");
  }
}

/** What to check for `code` about `path` (device nodes get device words), or null. */
export function hintFor(code: string, path?: string): string | null {
  const hint = HINTS[code];
  if (hint === undefined) return null;
  return hint.device !== undefined && isDeviceNode(path) ? hint.device : hint.other;
}

/**
 * The one line for an error the system reported, or null when `error` has no errno name. `what`
 * says what failed ("cannot listen on /run/example/raw.sock"); by default the error's own words:
 *   binding: "cannot open /dev/dri/renderD128: ENXIO" -> "cannot open /dev/dri/renderD128: ENXIO (check: no driver ...)"
 *   Node:    "connect EACCES /x", "EACCES: ..., open '/x'" -> "cannot connect /x: EACCES (check: permissions ...)"
 */
export function systemErrorLine(error: unknown, what?: string): string | null {
  const reported = systemError(error);
  if (reported === null) return null;
  const { code, syscall, path, address, message } = reported as NodeJS.ErrnoException & { code: string; address?: string };
  const where = path ?? address;
  // Node's own errors name a syscall and read poorly ("connect EACCES /x"); the bindings' already say what failed.
  const failed = what ?? (syscall !== undefined ? `cannot ${syscall}${where ? ` ${where}` : ""}` : message.replace(new RegExp(`: ${code}$`), ""));
  const hint = hintFor(code, where);
  return `${failed}: ${code}${hint === null ? "" : ` (check: ${hint})`}`;
}
