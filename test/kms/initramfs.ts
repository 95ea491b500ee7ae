// Builds the guest's initramfs: busybox for /init, this host's node binary with the shared
// libraries ldd names, the DRM bundles with their drm.node (and libdrm), the kernel modules for
// qemu's std VGA (bochs) and, loaded later by the guest runner, virtio-gpu (a render node).
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { build } from "esbuild";
import { writeCpio, type CpioEntry } from "./cpio";
import { modulesFor, type Kernel } from "./kernel";

export const GUEST_PROGRAMS = ["drm-master", "drm-render", "drm-provider"];
const EARLY_MODULES = ["bochs"];
const LATE_MODULES = ["virtio_pci", "virtio_gpu"];

const INIT = `#!/bin/sh
/bin/busybox --install -s /bin 2>/dev/null
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
echo 1 > /proc/sys/kernel/printk
for m in /modules/early/*.ko; do insmod "$m" || echo "GUEST ERROR insmod $m"; done
i=0
while [ ! -e /dev/dri/card0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu HOME=/tmp
/usr/bin/node /guest.js
echo "GUEST INIT-END"
poweroff -f
`;

/** The shared libraries `ldd` reports for a binary (absolute paths, the loader included). */
function sharedLibraries(binary: string): string[] {
  return execFileSync("ldd", [binary], { encoding: "utf8" })
    .split("\n")
    .map((line) => /(\/\S+) \(0x/.exec(line)?.[1])
    .filter((path): path is string => path !== undefined);
}

/** Adds `path` and each missing parent directory to `entries`. */
function addPath(entries: CpioEntry[], seen: Set<string>, entry: CpioEntry): void {
  const parents: string[] = [];
  for (let dir = dirname(entry.path); dir !== "/" && !seen.has(dir); dir = dirname(dir)) parents.unshift(dir);
  for (const dir of parents) {
    seen.add(dir);
    entries.push({ path: dir, type: "dir" });
  }
  if (!seen.has(entry.path)) entries.push(entry);
  seen.add(entry.path);
}

export async function buildInitramfs(options: { kernel: Kernel; repo: string; workDir: string }): Promise<string> {
  const { kernel, repo, workDir } = options;
  const busybox = "/bin/busybox";
  if (!existsSync(busybox)) throw new Error("busybox-static is not installed (/bin/busybox)");
  const guestJs = join(workDir, "guest.js");
  const bundleFor = (entry: string, outfile: string) =>
    build({ entryPoints: [join(repo, "test", "kms", entry)], outfile, bundle: true, platform: "node", target: "node20", format: "cjs", logLevel: "silent" });
  await bundleFor("guest.ts", guestJs);
  // The mesh runner is optional: if the mesh code does not bundle, the guest says so and goes on.
  const guestMeshJs = join(workDir, "guest-mesh.js");
  const meshBundled = await bundleFor("guest-mesh.ts", guestMeshJs).then(() => true, () => false);

  const entries: CpioEntry[] = [];
  const seen = new Set<string>();
  const add = (entry: CpioEntry): void => addPath(entries, seen, entry);
  for (const dir of ["/dev", "/proc", "/sys", "/tmp", "/bin"]) add({ path: dir, type: "dir" });
  add({ path: "/dev/console", type: "char", major: 5, minor: 1, mode: 0o600 });
  add({ path: "/bin/busybox", type: "file", from: busybox, mode: 0o755 });
  add({ path: "/bin/sh", type: "symlink", target: "busybox" });
  add({ path: "/bin/insmod", type: "symlink", target: "busybox" });
  add({ path: "/init", type: "text", text: INIT, mode: 0o755 });
  add({ path: "/guest.js", type: "file", from: guestJs });
  if (meshBundled) add({ path: "/guest-mesh.js", type: "file", from: guestMeshJs });
  // The mesh finds the repo by package.json and reads each container's manifests.
  add({ path: "/repo/package.json", type: "text", text: "{}\n" });
  add({ path: "/repo/containers/drm-provider/services.json", type: "file", from: join(repo, "containers", "drm-provider", "services.json") });
  add({ path: "/repo/containers/drm-master/args.json", type: "file", from: join(repo, "containers", "drm-master", "args.json") });
  add({ path: "/usr/bin/node", type: "file", from: process.execPath, mode: 0o755 });
  const libraries = new Set(sharedLibraries(process.execPath));
  for (const program of GUEST_PROGRAMS) {
    for (const file of ["main.js", "drm.node"]) {
      const from = join(repo, "dist", program, file);
      if (!existsSync(from)) throw new Error(`${from} is missing: run node scripts/build.mjs ${GUEST_PROGRAMS.join(" ")}`);
      add({ path: `/repo/dist/${program}/${file}`, type: "file", from });
    }
    sharedLibraries(join(repo, "dist", program, "drm.node")).forEach((lib) => libraries.add(lib));
  }
  // ldd prints the paths the libraries were found at; the guest has no ld.so.cache, so put them
  // where the loader looks by default (LD_LIBRARY_PATH covers the multiarch directory).
  for (const lib of libraries) {
    const path = lib.startsWith("/lib64/") ? lib : join("/lib/x86_64-linux-gnu", basename(lib));
    add({ path, type: "file", from: lib, mode: 0o755 });
  }
  const early = modulesFor(kernel, EARLY_MODULES);
  const late = modulesFor(kernel, LATE_MODULES).filter((file) => !early.includes(file));
  early.forEach((file, i) => add({ path: `/modules/early/${String(i).padStart(2, "0")}-${basename(file)}`, type: "file", from: file }));
  late.forEach((file, i) => add({ path: `/modules/late/${String(i).padStart(2, "0")}-${basename(file)}`, type: "file", from: file }));

  const archive = join(workDir, "initramfs.cpio");
  writeCpio(archive, entries);
  return archive;
}
