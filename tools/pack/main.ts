// pack: a pvrexport per container in seconds, from this host's own binaries, without a Yocto build.
// For each container folder (default: all) it writes pv-example-<name>.pvrexport.tgz: the format
// `pvr export` writes and the recipes deploy, ready for an appengine's pvtx.d/:
//   - <pv-example-name>/root.squashfs: busybox, node, the bundle, its addons, the Debian packages
//     container.json names and the folder's rootfs/ files (tools/pack/image.ts);
//   - run.json, lxc.container.conf, src.json as pvr's lxc-docker template renders them for the
//     recipe's `pvr app add` arguments; services.json and mdev.json beside them (tools/pack/pvr.ts);
//   - with --sign KEY --cert CERT, _sigs/<pv-example-name>.json as `pvr sig add` writes it.
// device-config becomes pv-example-device-config (device.json alone, signed with --sign).
// What goes in each image comes from containers/<name>/container.json, which the BitBake class
// reads too (tools/pack/container.ts).
//
// Run:  npm run pack -- [NAME...] [--out DIR] [--node PATH] [--sign KEY.pem --cert CERT.pem]
//       (after `npm run build`; `node dist/pack/main.js` is the same)
// Simplified: x86_64 only in practice: busybox, the Debian packages and the addons are this host's
// own, so an image runs on a machine like this one (appengine); a board needs the recipes.
import { copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { parseCommandLine, UsageError } from "../../shared/cli";
import { reason } from "../../shared/log";
import { FatalError, runMain } from "../../shared/run";
import { stopSignal } from "../../shared/shutdown";
import type { JsonObject } from "../inspect/pvrexport";
import { containerNames, FactsError, loadFacts, type ContainerFacts } from "./container";
import { busyboxPath, ImageError, ImageTree, SQUASHFS_OPTIONS, stageImage, treeDigest } from "./image";
import { addFileObject, addObject, appFor, loadSigner, newExport, renderLxcConf, renderRunJson, sha256File, sign, srcJson, unrenderedArgs, writeExport, type Export, type Signer } from "./pvr";

// dist/pack/main.js -> the repository (containers/, dist/).
const REPO = resolve(__dirname, "..", "..");
const DEVICE_CONFIG = "device-config";
/** Images pack made, by the digest of their files (see containerImage). */
const CACHE = join(REPO, ".work", "pack-cache");
/** container-pvrexport's mdev.json when PVRIMAGE_AUTO_MDEV is 1. */
const AUTO_MDEV = { rules: [".* 0:0 666"] };

function readJson(path: string): JsonObject {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as JsonObject;
  } catch (error) {
    throw new FactsError(path.slice(REPO.length + 1), "", error instanceof SyntaxError ? `invalid JSON (${error.message})` : reason(error));
  }
}

interface PackOptions {
  node: string;
  busybox: string;
  signer: Signer | null;
  /** Squash every image again instead of reusing an unchanged one. */
  fresh: boolean;
  signal: AbortSignal;
}

/**
 * root.squashfs of one container, at <staging>/root.squashfs: staged, then squashed, unless an image
 * of exactly the same tree is in the cache, .work/pack-cache/<name>-<tree digest>-<sha256>.squashfs.
 * Entries are published by rename and taken by hard link, so two packs running at once (a test and
 * a user) never read a half-written or replaced image.
 */
async function containerImage(facts: ContainerFacts, options: PackOptions, staging: string): Promise<{ file: string; sha: string; reused: boolean }> {
  const file = join(staging, "root.squashfs");
  const tree = new ImageTree(join(staging, "rootfs"));
  stageImage(tree, { repo: REPO, facts, node: options.node, busybox: options.busybox });
  const prefix = `${facts.name}-${treeDigest(tree.root).slice(0, 32)}-`;
  const entries = existsSync(CACHE) ? readdirSync(CACHE).filter((name) => name.endsWith(".squashfs")) : [];
  const hit = options.fresh ? undefined : entries.find((name) => name.startsWith(prefix));
  if (hit !== undefined && linkOrCopy(join(CACHE, hit), file)) {
    rmSync(tree.root, { recursive: true, force: true });
    return { file, sha: hit.slice(prefix.length, -".squashfs".length), reused: true };
  }
  await tree.squash(file, options.signal);
  rmSync(tree.root, { recursive: true, force: true });
  const sha = await sha256File(file);
  mkdirSync(CACHE, { recursive: true });
  const entry = join(CACHE, `${prefix}${sha}.squashfs`);
  if (linkOrCopy(file, `${entry}.${process.pid}`)) renameSync(`${entry}.${process.pid}`, entry);
  // Keep the newest other image too (say, the user's and a test's with another --node).
  const ours = new RegExp(`^${facts.name.replace(/[^\w-]/g, "\\$&")}-[0-9a-f]{32}-[0-9a-f]{64}\\.squashfs$`);
  const made = (name: string): number => statSync(join(CACHE, name), { throwIfNoEntry: false })?.mtimeMs ?? 0;
  const others = entries.filter((name) => ours.test(name) && name !== basename(entry));
  others.sort((a, b) => made(b) - made(a));
  for (const old of others.slice(1)) rmSync(join(CACHE, old), { force: true });
  return { file, sha, reused: false };
}

/** A hard link (else a copy) of `from` at `to`; false when `from` is gone. */
function linkOrCopy(from: string, to: string): boolean {
  try {
    linkSync(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    copyFileSync(from, to);
  }
  return true;
}

/** The export of one container: its image, the files pvr renders, the manifests beside them. */
async function containerExport(facts: ContainerFacts, options: PackOptions, staging: string): Promise<{ exp: Export; reused: boolean }> {
  const container = `pv-example-${facts.name}`;
  const folder = join(REPO, "containers", facts.name);
  const image = await containerImage(facts, options, staging);
  const signer = options.signer;
  const manifest = (file: string): JsonObject | undefined => (facts.files.includes(file) ? readJson(join(folder, file)) : undefined);
  const args = manifest("args.json") ?? {};
  const unrendered = unrenderedArgs(args);
  if (unrendered !== null) throw new FactsError(`containers/${facts.name}/args.json`, "", unrendered);
  const app = appFor(container, args, manifest("config.json"));
  const exp = newExport();
  addFileObject(exp, `${container}/root.squashfs`, image.file, image.sha);
  addObject(exp, `${container}/lxc.container.conf`, Buffer.from(renderLxcConf(app)));
  const run = renderRunJson(app);
  const network = manifest("network.json");
  exp.state[`${container}/run.json`] = network === undefined ? run : { ...run, network };
  exp.state[`${container}/src.json`] = srcJson(app, image.sha, SQUASHFS_OPTIONS.join(" "), `containers/${facts.name}`);
  const services = manifest("services.json");
  if (services !== undefined) exp.state[`${container}/services.json`] = services;
  const mdev = manifest("mdev.json") ?? (facts.autoMdev ? AUTO_MDEV : undefined);
  if (mdev !== undefined) exp.state[`${container}/mdev.json`] = mdev;
  // The recipe's `pvr sig add --noconfig --part <container>`.
  if (signer !== null) await sign(exp, container, { include: [`${container}/**`], exclude: [`${container}/src.json`] }, signer);
  return { exp, reused: image.reused };
}

/** device.json alone, as the device-config recipe exports it (`pvr sig add --raw device-config --include device.json`). */
async function deviceConfigExport(signer: Signer | null): Promise<Export> {
  const exp = newExport();
  exp.state["device.json"] = readJson(join(REPO, "containers", DEVICE_CONFIG, "device.json"));
  if (signer !== null) await sign(exp, DEVICE_CONFIG, { include: ["device.json"], exclude: ["src.json"] }, signer);
  return exp;
}

async function main(): Promise<number> {
  const { values, positionals } = parseCommandLine({
    name: "pack",
    summary: "Writes pv-example-<name>.pvrexport.tgz for each container folder (default: all) from this host's binaries, without Yocto.",
    options: {
      out: { type: "string", value: "DIR", default: "dist/pvrexports", help: "where the .pvrexport.tgz files go (e.g. an appengine's pvtx.d)" },
      node: { type: "string", value: "PATH", default: process.execPath, help: "the node binary each image ships, with the libraries ldd finds for it" },
      sign: { type: "string", value: "KEY.pem", help: "sign each export with this private key, as the recipes' pvr sig does (needs --cert)" },
      cert: { type: "string", value: "CERT.pem", help: "the signer's certificate (chain), put in each signature's x5c" },
      fresh: { type: "boolean", help: "squash every image again (by default an image whose files did not change is reused from .work/pack-cache)" },
    },
    positionals: "[NAME...]",
    notes: [
      "NAME is a folder under containers/ with a container.json, or device-config. Run `npm run build` first.",
      "Needs mksquashfs (squashfs-tools), Debian's busybox-static, ldd, and the Debian packages the containers name (scripts/setup.sh installs them).",
      "Unsigned by default (appengine's secure boot is lenient). pv-developer-ca's key.default.pem / x5c.default.pem are the recipes' keys.",
    ],
    examples: ["npm run pack -- unix-server unix-client --out pvtx.d", "node dist/pack/main.js --sign key.default.pem --cert x5c.default.pem"],
  });
  const known = [...containerNames(REPO), DEVICE_CONFIG];
  const names = positionals.length > 0 ? positionals : known;
  for (const name of names) if (!known.includes(name)) throw new UsageError(`no container "${name}" (one of: ${known.join(", ")})`);
  if ((values.sign === undefined) !== (values.cert === undefined)) throw new UsageError("--sign and --cert go together");

  let signer: Signer | null = null;
  let node: string;
  let busybox = "";
  try {
    if (values.sign !== undefined && values.cert !== undefined) signer = loadSigner(readFileSync(values.sign, "utf8"), readFileSync(values.cert, "utf8"));
    node = resolve(values.node);
    if (!statSync(node).isFile()) throw new FatalError(`--node ${values.node} is not a file`);
    if (names.some((name) => name !== DEVICE_CONFIG)) busybox = busyboxPath();
  } catch (error) {
    if (error instanceof FatalError) throw error;
    throw new FatalError(error instanceof ImageError ? error.message : `--sign/--cert/--node: ${(error as NodeJS.ErrnoException).path ?? ""} ${reason(error)}`.replace(/ +/g, " "));
  }

  const out = resolve(values.out);
  mkdirSync(out, { recursive: true });
  const stopping = stopSignal();
  const started = Date.now();
  for (const name of names) {
    const began = Date.now();
    const file = join(out, `pv-example-${name}.pvrexport.tgz`);
    let reused = false;
    // The image is made here and streamed from here into the export; removed once it is written.
    const staging = mkdtempSync(join(tmpdir(), `pv-pack-${name}-`));
    try {
      let exp: Export;
      if (name === DEVICE_CONFIG) exp = await deviceConfigExport(signer);
      else ({ exp, reused } = await containerExport(loadFacts(REPO, name), { node, busybox, signer, fresh: values.fresh === true, signal: stopping }, staging));
      await writeExport(exp, file);
    } catch (error) {
      if (stopping.aborted) {
        console.log(`stopped (${String(stopping.reason)}): pv-example-${name} not written`);
        return 0;
      }
      if (error instanceof FactsError || error instanceof ImageError) throw new FatalError(`pv-example-${name}: ${error.message}`);
      throw error;
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
    const size = (statSync(file).size / 1e6).toFixed(1);
    const notes = [`${((Date.now() - began) / 1000).toFixed(1)} s`, ...(reused ? ["image unchanged"] : [])];
    console.log(`${file}  ${size} MB${signer !== null ? ", signed" : ""}  (${notes.join(", ")})`);
  }
  console.log(`packed ${names.length} export${names.length === 1 ? "" : "s"} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}

if (require.main === module) runMain(main);
