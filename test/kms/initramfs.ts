// Builds the guest's initramfs: busybox for /init, this host's node binary with the shared
// libraries ldd names, the DRM bundles with their drm.node (and libdrm), the kernel modules for
// qemu's std VGA (bochs) and, loaded later by the guest runner, virtio-gpu (a render node).
// With `weston`, also this host's Weston (Debian's package: the DRM backend, the default desktop
// shell and the helper clients it launches, their libraries, a font) and the Wayland pair.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { build } from "esbuild";
import { writeCpio, type CpioEntry } from "./cpio";
import { modulesFor, type Kernel } from "./kernel";

export const GUEST_PROGRAMS = ["drm-master", "drm-render", "drm-provider"];
export const WAYLAND_PROGRAMS = ["wayland-server", "wayland-client"];
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

/**
 * Weston 10 as Debian installs it. The modules are loaded by absolute path (compiled in), so they
 * keep their place; the executables' libraries go where all the others do.
 */
const WESTON_FILES = [
  "/usr/bin/weston",
  "/usr/lib/x86_64-linux-gnu/libweston-10/drm-backend.so", // what wayland-server asks for by default
  "/usr/lib/x86_64-linux-gnu/weston/desktop-shell.so", // Weston's default shell...
  "/usr/lib/x86_64-linux-gnu/weston-desktop-shell", // ...and the client it launches for the background and panel
  "/usr/lib/x86_64-linux-gnu/weston-keyboard", // the input-method client Weston launches
];
/**
 * Data read at run time: the panel's icons (desktop-shell loads them by path), the XKB tree (Weston
 * cannot create its keyboard context without it, keyboard or not), one font family for the clock.
 */
const WESTON_DATA_DIRS = ["/usr/share/weston", "/usr/share/X11/xkb"];
const FONT_FILES = ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"];
// fontconfig's whole configuration is one directory to scan; its cache goes to a writable place.
const FONTS_CONF = `<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">
<fontconfig>
  <dir>/usr/share/fonts</dir>
  <cachedir>/tmp/fontconfig</cachedir>
</fontconfig>
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

/** Why this host cannot give the guest Weston (a file the image needs is missing), or null. */
export function westonMissing(): string | null {
  const missing = [...WESTON_FILES, ...FONT_FILES, ...WESTON_DATA_DIRS].find((file) => !existsSync(file));
  return missing === undefined ? null : `${missing} is missing (apt-get install weston fonts-dejavu-core)`;
}

/** Adds a directory's files and symbolic links, recursively, at the same paths. */
function addTree(add: (entry: CpioEntry) => void, dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) addTree(add, path);
    else if (entry.isSymbolicLink()) add({ path, type: "symlink", target: readlinkSync(path) });
    else add({ path, type: "file", from: path });
  }
}

export interface GuestImage {
  kernel: Kernel;
  repo: string;
  workDir: string;
  /** What /init runs (test/kms/<runner>, bundled to /guest.js): guest.ts by default. */
  runner?: string;
  /** Add Weston and the Wayland pair (for guest-wayland.ts). */
  weston?: boolean;
}

export async function buildInitramfs(options: GuestImage): Promise<string> {
  const { kernel, repo, workDir, weston = false } = options;
  const busybox = "/bin/busybox";
  if (!existsSync(busybox)) throw new Error("busybox-static is not installed (/bin/busybox)");
  const guestJs = join(workDir, "guest.js");
  const bundleFor = (entry: string, outfile: string) =>
    build({ entryPoints: [join(repo, "test", "kms", entry)], outfile, bundle: true, platform: "node", target: "node20", format: "cjs", logLevel: "silent" });
  await bundleFor(options.runner ?? "guest.ts", guestJs);
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
  const programs = weston ? [...GUEST_PROGRAMS, ...WAYLAND_PROGRAMS] : GUEST_PROGRAMS;
  for (const program of programs) {
    const dir = join(repo, "dist", program);
    if (!existsSync(join(dir, "main.js"))) throw new Error(`${dir}/main.js is missing: run node scripts/build.mjs ${programs.join(" ")}`);
    // The bundle and the native addon beside it (drm.node, wayland.node), with the addon's libraries.
    // The program's folder as it ships: the loader, the bundle, V8's code for it, the addons.
    for (const file of readdirSync(dir).filter((name) => ["main.js", "app.js", "app.cache"].includes(name) || name.endsWith(".node"))) {
      add({ path: `/repo/dist/${program}/${file}`, type: "file", from: join(dir, file) });
      if (file.endsWith(".node")) sharedLibraries(join(dir, file)).forEach((lib) => libraries.add(lib));
    }
  }
  if (weston) {
    for (const [container, manifest] of [["wayland-server", "services.json"], ["wayland-server", "args.json"], ["wayland-client", "args.json"]]) {
      add({ path: `/repo/containers/${container}/${manifest}`, type: "file", from: join(repo, "containers", container, manifest) });
    }
    for (const file of [...WESTON_FILES, ...FONT_FILES]) {
      if (!existsSync(file)) throw new Error(`${file} is missing (apt-get install weston fonts-dejavu-core)`);
      add({ path: file, type: "file", from: file });
      if (!file.endsWith(".ttf")) sharedLibraries(file).forEach((lib) => libraries.add(lib));
    }
    for (const dir of WESTON_DATA_DIRS) addTree(add, dir);
    add({ path: "/etc/fonts/fonts.conf", type: "text", text: FONTS_CONF });
    // The runner reads the CRTC with drm-master's binding, loaded from beside the bundle.
    add({ path: "/drm.node", type: "file", from: join(repo, "dist", "drm-master", "drm.node") });
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
