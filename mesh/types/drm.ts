// The `drm` service type: no socket and no proxy. pv-xconnect copies the provider's device node
// into the consumer with mknod, keeping its type, major:minor, mode and owner, so the consumer
// talks to the kernel driver directly. Creating a device node needs root (CAP_MKNOD); without it
// the mesh cannot inject DRM and says so.
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, lstatSync, readdirSync, rmSync, type Stats } from "node:fs";
import { join } from "node:path";
import { clearTarget } from "../proxy";
import type { Injection, Injector } from "./link";

/** The device's major and minor numbers (Linux's dev_t encoding, as glibc's major()/minor()). */
export function majorMinor(rdev: number): [number, number] {
  const dev = BigInt(rdev);
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
  return [major, minor];
}

/** What the provider's node is: its stat, or an Error saying why it cannot be copied. */
function deviceAt(path: string): Stats {
  let stat: Stats;
  try {
    stat = lstatSync(path);
  } catch (error) {
    throw new Error(`cannot inject ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  if (!stat.isCharacterDevice() && !stat.isBlockDevice()) throw new Error(`cannot inject ${path}: not a device node`);
  return stat;
}

/** Creates a copy of the device node `from` at `to` (same type, major:minor, mode, owner). Needs root. */
export function copyDeviceNode(from: string, to: string): void {
  if (process.getuid?.() !== 0) {
    throw new Error(`device injection needs root (CAP_MKNOD): cannot create ${to} as a copy of ${from}`);
  }
  const stat = deviceAt(from);
  const [major, minor] = majorMinor(stat.rdev);
  clearTarget(to);
  // Node has no mknod(); coreutils' mknod makes the same system call.
  execFileSync("mknod", [to, stat.isCharacterDevice() ? "c" : "b", String(major), String(minor)]);
  chmodSync(to, stat.mode & 0o7777); // explicit, so the umask cannot narrow it
  chownSync(to, stat.uid, stat.gid);
}

/** The mesh injector for `drm` links: the provider's node appears at the consumer's target. */
export const injectDrm: Injector = async (link, options) => {
  copyDeviceNode(link.socketPath, link.targetPath);
  const [major, minor] = majorMinor(lstatSync(link.targetPath).rdev);
  options.log(`${link.consumer}: ${link.name}: device ${major}:${minor} injected at ${link.target}`);
  const injection: Injection = {
    async close() {
      rmSync(link.targetPath, { force: true });
    },
  };
  return injection;
};

/** The DRM nodes this machine has (`/dev/dri/card0`, `/dev/dri/renderD128`, ...). */
export function hostDrmNodes(hostDir = "/dev/dri"): string[] {
  if (!existsSync(hostDir)) return [];
  return readdirSync(hostDir).filter((name) => /^(card|renderD)\d+$/.test(name)).sort().map((name) => join(hostDir, name));
}

/** For the demo: why the DRM pattern cannot run here, or null when it can. */
export function drmUnavailable(): string | null {
  if (hostDrmNodes().length === 0) return "no DRM device on this machine (/dev/dri has no card or render node)";
  if (process.getuid?.() !== 0) return "device injection needs root (CAP_MKNOD)";
  return null;
}
