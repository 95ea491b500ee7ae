// The container image (root.squashfs) made from this host's own files instead of a Yocto build:
//   - Debian's busybox-static as /bin/busybox, with a link for every applet it lists (sh, env, ...);
//   - the node binary (--node, default this host's) as /usr/bin/node;
//   - the program as /usr/lib/pv-examples/<program>/ (main.js, app.js, app.cache), /usr/bin/pv-example-<name> linking to main.js
//     (its `#!/usr/bin/env node` banner makes that link the entrypoint), the native addons under
//     /usr/lib/pv-examples/addons/ linked beside the bundle: the recipe's layout;
//   - the files of the Debian packages container.json names (dbus-daemon, weston, libdrm2);
//   - every shared library these ELF files need, as ldd finds it on this host;
//   - the container's rootfs/ files, over everything else.
// Host paths are copied to the same paths, and symbolic links on the way (Debian's /lib -> usr/lib,
// /lib64/ld-linux-x86-64.so.2 -> ...) are recreated, so the dynamic loader finds what it finds here.
// Files are hard-linked into the staging tree when they are on the same file system (nothing in
// it is ever written to), else copied.
import { execFile, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { promisify } from "node:util";
import { chmodSync, copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, openSync, readSync, closeSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, symlinkSync, unlinkSync, utimesSync } from "node:fs";
import { basename, dirname, join, posix, resolve } from "node:path";
import { addonTarget, type ContainerFacts } from "./container";

const execFileAsync = promisify(execFile);

/** Where the recipe puts the bundles and addons (bitbake/classes/pv-example-node.bbclass). */
export const LIBDIR = "usr/lib/pv-examples";
/** Debian package files an image does not need. */
const UNNEEDED = /^\/usr\/share\/(doc|man|info|lintian|bug|locale|bash-completion)\/|^\/usr\/include\/|\/pkgconfig\//;
/** How root.squashfs is compressed: fast, and readable by every kernel with squashfs (zlib). */
export const SQUASHFS_OPTIONS = ["-comp", "gzip", "-Xcompression-level", "1"];

/** A failure the user can act on (a missing tool or package, a library ldd cannot find). */
export class ImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ImageError";
  }
}

function run(command: string, args: string[], what: string): string {
  const result = spawnSync(command, args, { encoding: "utf8", maxBuffer: 64 << 20 });
  if (result.error) throw new ImageError(`${what}: cannot run ${command} (${(result.error as NodeJS.ErrnoException).code ?? result.error.message})`);
  if (result.status !== 0) throw new ImageError(`${what}: ${command} ${args.join(" ")} failed: ${(result.stderr || result.stdout).trim().split("\n")[0]}`);
  return result.stdout;
}

/** The files of an installed Debian package (dpkg -L). */
export function debianFiles(pkg: string): string[] {
  const result = spawnSync("dpkg-query", ["-L", pkg], { encoding: "utf8" });
  if (result.error) throw new ImageError(`Debian package ${pkg}: pack takes it from this host, which has no dpkg-query (not Debian?)`);
  if (result.status !== 0) throw new ImageError(`Debian package ${pkg} is not installed on this host: sudo apt-get install ${pkg}`);
  return result.stdout.split("\n").filter((line) => line.startsWith("/") && line !== "/.");
}

function isElf(file: string): boolean {
  const fd = openSync(file, "r");
  try {
    const magic = Buffer.alloc(4);
    return readSync(fd, magic, 0, 4, 0) === 4 && magic.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  } finally {
    closeSync(fd);
  }
}

interface Needed {
  /** Host paths of the libraries ldd found. */
  found: string[];
  /** Names ldd did not find from `file` alone (a plugin's library beside its program, found there by RUNPATH). */
  missing: string[];
}

const lddCache = new Map<string, Needed>();

/** The shared libraries `file` needs, as this host's ldd resolves them (none for a static binary). */
function neededLibraries(file: string): Needed {
  const cached = lddCache.get(file);
  if (cached !== undefined) return cached;
  const needed = runLdd(file);
  lddCache.set(file, needed);
  return needed;
}

function runLdd(file: string): Needed {
  const result = spawnSync("ldd", [file], { encoding: "utf8" });
  if (result.error) throw new ImageError(`cannot run ldd (${result.error.message}): it lists the libraries ${file} needs`);
  const output = `${result.stdout}${result.stderr}`;
  const needed: Needed = { found: [], missing: [] };
  if (/not a dynamic executable|statically linked/.test(output)) return needed;
  if (result.status !== 0) throw new ImageError(`ldd ${file} failed (a binary for another architecture?): ${output.trim().split("\n")[0]}`);
  for (const line of output.split("\n")) {
    const missing = /^\s*(\S+) => not found/.exec(line)?.[1];
    if (missing !== undefined) needed.missing.push(missing);
    const path = /=> (\/\S+)/.exec(line)?.[1] ?? /^\s*(\/\S+) \(0x/.exec(line)?.[1];
    if (path !== undefined) needed.found.push(path);
  }
  return needed;
}

/** The image being assembled in a staging directory. */
export class ImageTree {
  private readonly elfsDone = new Set<string>();
  /** File names placed in the image, and libraries ldd could not find: library name -> who needs it. */
  private readonly placed = new Set<string>();
  private readonly unresolved = new Map<string, string>();

  constructor(readonly root: string) {
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root, { recursive: true, mode: 0o755 });
  }

  /**
   * Recreates the symbolic links on the way to `hostPath` inside the image and returns the path,
   * relative to the image root, where the file `hostPath` finally names lives.
   */
  private mirror(hostPath: string, depth = 0): string {
    if (depth > 40) throw new ImageError(`${hostPath}: too many levels of symbolic links`);
    const parts = hostPath.split("/").filter(Boolean);
    let real = "";
    for (let i = 0; i < parts.length; i++) {
      const host = `/${real ? `${real}/` : ""}${parts[i]}`;
      if (lstatSync(host).isSymbolicLink()) {
        const target = readlinkSync(host);
        const inImage = join(this.root, real, parts[i]);
        this.placed.add(parts[i]);
        if (!existsSync(inImage) && !isLink(inImage)) {
          mkdirSync(dirname(inImage), { recursive: true });
          symlinkSync(target, inImage);
        }
        return this.mirror(posix.join(resolve(dirname(host), target), ...parts.slice(i + 1)), depth + 1);
      }
      real = real ? `${real}/${parts[i]}` : parts[i];
    }
    return real;
  }

  /**
   * Copies a host file, directory or symbolic link (and what it points to) to the same path, and
   * for an ELF file the libraries it needs (ldd lists them all at once: a library's own are in it).
   */
  copyHostPath(hostPath: string, withLibraries = true): void {
    let rel: string;
    try {
      rel = this.mirror(hostPath);
    } catch (error) {
      // A dangling link in a package: the link is in place, there is nothing to copy.
      if ((error as NodeJS.ErrnoException).code === "ENOENT" && isLink(hostPath)) return;
      throw error;
    }
    const stat = statSync(`/${rel}`);
    if (stat.isDirectory()) {
      mkdirSync(join(this.root, rel), { recursive: true });
      return;
    }
    this.placeFile(`/${rel}`, rel);
    if (withLibraries && isElf(`/${rel}`)) this.addLibrariesOf(`/${rel}`);
  }

  /** Puts the host file `from` at `rel` in the image (replacing a busybox applet link there). */
  placeFile(from: string, rel: string, mode?: number): void {
    const dest = join(this.root, rel);
    mkdirSync(dirname(dest), { recursive: true });
    this.placed.add(basename(rel));
    if (isLink(dest)) unlinkSync(dest);
    else if (existsSync(dest)) return; // already there (two packages, or ldd, named it)
    const source = statSync(from);
    if (mode !== undefined && (source.mode & 0o7777) !== mode) {
      copyFileSync(from, dest);
      chmodSync(dest, mode);
    } else {
      try {
        linkSync(from, dest);
        return;
      } catch {
        copyFileSync(from, dest); // another file system, or not allowed to link (another user's file)
      }
    }
    // A copy keeps the source's times, so that the image cache's digest sees the same file.
    utimesSync(dest, source.atime, source.mtime);
  }

  /** A symbolic link at `rel` in the image, unless something is there already. */
  link(rel: string, target: string): void {
    const dest = join(this.root, rel);
    if (existsSync(dest) || isLink(dest)) return;
    mkdirSync(dirname(dest), { recursive: true });
    symlinkSync(target, dest);
  }

  /** Every shared library `elf` (a host path) needs, at its host path. */
  addLibrariesOf(elf: string): void {
    if (this.elfsDone.has(elf)) return;
    this.elfsDone.add(elf);
    const { found, missing } = neededLibraries(elf);
    for (const library of found) this.copyHostPath(library, false);
    for (const name of missing) this.unresolved.set(name, elf);
  }

  /** Fails for a library ldd did not find that the image does not have either (by the end of staging). */
  checkLibraries(): void {
    for (const [name, elf] of this.unresolved) {
      if (!this.placed.has(name)) throw new ImageError(`${elf} needs ${name}, which neither ldd nor the image's packages provide`);
    }
  }

  /** A directory the image needs even when empty (a mount point). */
  directory(rel: string, mode = 0o755): void {
    mkdirSync(join(this.root, rel), { recursive: true });
    chmodSync(join(this.root, rel), mode);
  }

  /** Writes the tree as a squashfs file (owned by root, timestamps 0: the same inputs give the same bytes). */
  async squash(out: string, signal: AbortSignal): Promise<void> {
    rmSync(out, { force: true });
    const args = [this.root, out, "-noappend", ...SQUASHFS_OPTIONS, "-all-root", "-mkfs-time", "0", "-all-time", "0", "-no-progress", "-quiet"];
    try {
      await execFileAsync("mksquashfs", args, { signal, maxBuffer: 16 << 20 });
    } catch (error) {
      if (signal.aborted) throw error;
      const failure = error as NodeJS.ErrnoException & { stderr?: string };
      if (failure.code === "ENOENT") throw new ImageError("mksquashfs is not installed: sudo apt-get install squashfs-tools");
      throw new ImageError(`mksquashfs failed: ${(failure.stderr ?? failure.message).trim().split("\n")[0]}`);
    }
  }
}

/**
 * A digest of everything mksquashfs would read from the tree: paths, modes, link targets and file
 * contents (size and mtime for files over 8 MB: the node binary and big libraries, which are
 * this host's own and change only with an upgrade), plus how it compresses. Two trees with the same
 * digest squash to the same image, so pack reuses the last one (the bundles are rebuilt by every
 * `npm run build` but their content, and so the digest, changes only with the source).
 */
export function treeDigest(root: string): string {
  const hash = createHash("sha256").update(`${SQUASHFS_OPTIONS.join(" ")}\n`);
  const walk = (rel: string): void => {
    for (const entry of readdirSync(join(root, rel), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = rel === "" ? entry.name : `${rel}/${entry.name}`;
      const stat = lstatSync(join(root, path));
      hash.update(`${path}\0${stat.mode}\0`);
      if (entry.isSymbolicLink()) hash.update(`-> ${readlinkSync(join(root, path))}\n`);
      else if (entry.isDirectory()) walk(path);
      else if (stat.size > 8 << 20) hash.update(`${stat.size} ${stat.mtimeMs}\n`);
      else hash.update(readFileSync(join(root, path))).update("\n");
    }
  };
  walk("");
  return hash.digest("hex");
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Debian's busybox-static binary (the image's shell and applets). */
export function busyboxPath(): string {
  const path = debianFiles("busybox-static").find((file) => basename(file) === "busybox" && /\/s?bin\//.test(file));
  if (path === undefined) throw new ImageError("Debian package busybox-static has no busybox binary");
  return path;
}

export interface ImageInputs {
  repo: string;
  facts: ContainerFacts;
  /** The node binary to ship. */
  node: string;
  busybox: string;
}

/** Assembles the image of one container in `tree`. */
export function stageImage(tree: ImageTree, { repo, facts, node, busybox }: ImageInputs): void {
  // The host's top-level links first (Debian: bin -> usr/bin, lib -> usr/lib, ...), so that
  // everything copied later lands where the same path leads here.
  for (const top of ["/bin", "/sbin", "/lib", "/lib64"]) if (isLink(top)) tree.copyHostPath(top);
  for (const dir of ["dev", "proc", "sys", "run", "var", "etc", "usr/bin"]) tree.directory(dir);
  tree.directory("root", 0o700);
  tree.directory("tmp", 0o1777);

  tree.copyHostPath(busybox);
  const applets = run(busybox, ["--list-full"], "busybox applets").split("\n").filter(Boolean);
  for (const applet of applets) tree.link(join(resolveDir(tree, `/${dirname(applet)}`), basename(applet)), busybox);

  tree.placeFile(node, "usr/bin/node", 0o755);
  tree.addLibrariesOf(node);

  for (const pkg of facts.packages) {
    const skip = pkg.skip.map((glob) => new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]")}$`));
    for (const pkgName of pkg.debian) {
      for (const file of debianFiles(pkgName)) if (!UNNEEDED.test(file) && !skip.some((re) => re.test(file))) tree.copyHostPath(file);
    }
  }

  // The program is its folder: main.js (the entrypoint, a loader), app.js (the bundle), app.cache
  // (V8's code for it, made by this machine's node: the image's node, unless --node, accepts it).
  for (const [file, mode] of [["main.js", 0o755], ["app.js", 0o644], ["app.cache", 0o644]] as const) {
    const built = join(repo, "dist", facts.program, file);
    if (!existsSync(built)) throw new ImageError(`dist/${facts.program}/${file} is missing: run \`npm run build\` first`);
    tree.placeFile(built, `${LIBDIR}/${facts.program}/${file}`, mode);
  }
  tree.link(`usr/bin/pv-example-${facts.name}`, `/${LIBDIR}/${facts.program}/main.js`);
  for (const lib of facts.addons) {
    const target = `${addonTarget(repo, lib)}.node`;
    const built = join(repo, "dist", facts.program, target);
    if (!existsSync(built)) throw new ImageError(`dist/${facts.program}/${target} is missing: run \`npm run build\` first`);
    tree.placeFile(built, `${LIBDIR}/addons/${target}`, 0o755);
    tree.addLibrariesOf(built);
    tree.link(`${LIBDIR}/${facts.program}/${target}`, `/${LIBDIR}/addons/${target}`);
  }

  tree.checkLibraries();

  for (const file of facts.files.filter((path) => path.startsWith("rootfs/"))) {
    const rel = file.slice("rootfs/".length);
    const dest = join(tree.root, rel);
    mkdirSync(dirname(dest), { recursive: true });
    if (existsSync(dest) || isLink(dest)) rmSync(dest);
    copyFileSync(join(repo, "containers", facts.name, file), dest);
    chmodSync(dest, statSync(join(repo, "containers", facts.name, file)).mode & 0o777);
  }
}

/** Where a host directory lands in the image (through the host's links), created if missing. */
function resolveDir(tree: ImageTree, hostDir: string): string {
  if (!existsSync(hostDir)) {
    tree.directory(hostDir.slice(1));
    return hostDir.slice(1);
  }
  tree.copyHostPath(hostDir);
  return realpathSync(hostDir).slice(1);
}
