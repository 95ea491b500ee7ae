// Fetches a real Debian kernel for the KMS test without installing it: `apt-get download` of the
// package that linux-image-amd64 currently depends on (so no ABI version is hard-coded), then
// `dpkg-deb -x` into a cache directory. A full `apt-get install` would cost 600 MB and run an
// initramfs hook; we only need vmlinuz and a few modules.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

export interface Kernel {
  package: string;
  vmlinuz: string;
  /** lib/modules/<version>/ of the extracted package. */
  modulesDir: string;
}

/** The concrete linux-image package behind the `linux-image-amd64` meta-package. */
export function resolveKernelPackage(meta = "linux-image-amd64"): string {
  const depends = execFileSync("apt-cache", ["depends", meta], { encoding: "utf8" });
  const found = /Depends:\s+(linux-image-\S+)/.exec(depends);
  if (found === null) throw new Error(`apt-cache depends ${meta} names no linux-image package:\n${depends}`);
  return found[1];
}

/** Downloads and extracts the kernel once into `cacheDir`; later calls reuse it. */
export function fetchKernel(cacheDir: string): Kernel {
  const pkg = resolveKernelPackage();
  const root = join(cacheDir, pkg);
  if (!existsSync(join(root, ".complete"))) {
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
    execFileSync("apt-get", ["download", "-q", pkg], { cwd: cacheDir, stdio: ["ignore", "ignore", "pipe"] });
    const deb = readdirSync(cacheDir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith(".deb"));
    if (deb === undefined) throw new Error(`apt-get download ${pkg} left no .deb in ${cacheDir}`);
    execFileSync("dpkg-deb", ["-x", join(cacheDir, deb), root]);
    rmSync(join(cacheDir, deb));
    pruneModules(root);
    execFileSync("touch", [join(root, ".complete")]);
  }
  const version = readdirSync(join(root, "lib", "modules"))[0];
  return { package: pkg, vmlinuz: join(root, "boot", `vmlinuz-${version}`), modulesDir: join(root, "lib", "modules", version) };
}

/** fetchKernel(), or why a test that boots it has to be skipped (the reason's first line). */
export function fetchKernelOrSkipReason(cacheDir: string): Kernel | string {
  try {
    return fetchKernel(cacheDir);
  } catch (error) {
    return `cannot fetch a kernel with apt-get download (${error instanceof Error ? error.message.split("\n")[0] : String(error)})`;
  }
}

/** Module folders the guest can need (DRM, virtio and their helpers); the rest is ~350 MB of cache. */
const KEPT_MODULE_DIRS = ["drivers/gpu", "drivers/virtio", "drivers/dma-buf", "drivers/i2c", "drivers/video", "lib"];

function pruneModules(root: string): void {
  for (const version of readdirSync(join(root, "lib", "modules"))) {
    const kernelDir = join(root, "lib", "modules", version, "kernel");
    const prune = (dir: string, prefix: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const relative = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
        if (KEPT_MODULE_DIRS.includes(relative)) continue;
        if (entry.isDirectory() && KEPT_MODULE_DIRS.some((kept) => kept.startsWith(`${relative}/`))) prune(join(dir, entry.name), relative);
        else rmSync(join(dir, entry.name), { recursive: true, force: true });
      }
    };
    prune(kernelDir, "");
  }
}

/** A module's file and the modules it depends on (from its .modinfo "depends=" string). */
function moduleInfo(index: Map<string, string>, name: string): { file: string; depends: string[] } {
  const file = index.get(name.replace(/-/g, "_"));
  if (file === undefined) throw new Error(`kernel module ${name} not found`);
  const found = /\0depends=([^\0]*)\0/.exec(readFileSync(file).toString("latin1"));
  return { file, depends: found === null || found[1] === "" ? [] : found[1].split(",") };
}

/** The .ko files needed for `names`, dependencies first (insmod order). No depmod needed. */
export function modulesFor(kernel: Kernel, names: string[]): string[] {
  const index = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".ko")) index.set(entry.name.slice(0, -3).replace(/-/g, "_"), path);
    }
  };
  walk(join(kernel.modulesDir, "kernel"));
  const ordered: string[] = [];
  const visit = (name: string): void => {
    const { file, depends } = moduleInfo(index, name);
    if (ordered.includes(file)) return;
    depends.forEach(visit);
    ordered.push(file);
  };
  names.forEach(visit);
  return ordered;
}
