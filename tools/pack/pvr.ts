// What the recipe's pvr leaves in a pvrexport, written without pvr:
//   pvr app add --type rootfs --group app --arg-json args.json --volume ovl:/var:permanent \
//       --config=Entrypoint=/usr/bin/pv-example-<name> pv-example-<name>
//   (container-pvrexport copies services.json / mdev.json beside run.json), pvr add, pvr commit,
//   [pvr sig add --noconfig --part pv-example-<name>], pvr export.
// run.json and lxc.container.conf follow pvr's builtin `lxc-docker` template (templates/
// builtin-lxc-docker.go) line by line for the inputs the recipes give it; where this cannot match
// pvr, bitbake/README.md says so ("pack and pvr"). The state is canonical JSON; the export is a
// gzip'd tar holding `json` first, then one `objects/<sha256>` file per object, and nothing else
// (a directory entry for objects/ makes pvtx add crash).
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { createReadStream, createWriteStream, renameSync, rmSync, statSync } from "node:fs";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { FlattenedSign } from "jose";
import * as tarStream from "tar-stream";
import { canonicalJson, selectSigned, type Json, type JsonObject } from "../inspect/pvrexport";

export const STATE_SPEC = "pantavisor-service-system@1";
/** The recipes' `pvr app add` arguments (bitbake/classes/pv-example-node.bbclass). */
export const GROUP = "app";
export const VOLUMES = ["ovl:/var:permanent"];
export const entrypointOf = (container: string): string => `/usr/bin/${container}`;

/** The template arguments pack renders; any other key in args.json is refused, not silently dropped. */
const RENDERED_ARGS = ["PV_GROUP", "PV_RESTART_POLICY", "PV_STATUS_GOAL", "PV_ROLES", "PV_SERVICES_REQUIRED", "PV_SERVICES_OPTIONAL", "PV_NETWORK_POOL", "PV_NETWORK_IP", "PV_NETWORK_HOSTNAME", "PV_LXC_DISABLE_CONSOLE"];

export interface App {
  /** pv-example-<name>: the state's folder and the LXC container name. */
  name: string;
  /** src.json "args": args.json plus PV_GROUP from --group. */
  args: JsonObject;
  /** src.json "docker_config": config.json, then --config=Entrypoint=... */
  dockerConfig: JsonObject;
  /** src.json "persistence", from the --volume arguments: path -> persistence. */
  persistence: Record<string, string>;
}

/** Why pack cannot render these args.json keys, or null: an argument it would drop is refused instead. */
export function unrenderedArgs(args: JsonObject): string | null {
  const unknown = Object.keys(args).filter((key) => !RENDERED_ARGS.includes(key));
  if (unknown.length === 0) return null;
  return `${unknown.join(", ")}: pack does not render ${unknown.length > 1 ? "these template arguments" : "this template argument"} (only ${RENDERED_ARGS.join(", ")}); use the recipes`;
}

/** The app as `pvr app add` records it for the recipe's arguments. */
export function appFor(container: string, args: JsonObject, config: JsonObject = {}): App {
  const persistence: Record<string, string> = {};
  for (const volume of VOLUMES) {
    // pvr 04x's "ovl:" prefix asks for a copy-up overlay of the image's directory; the template
    // pack follows knows bind-mounted volumes only (README: "pack and pvr").
    const [path, kind] = volume.replace(/^ovl:/, "").split(":");
    persistence[path] = kind;
  }
  return { name: container, args: { ...args, PV_GROUP: GROUP }, dockerConfig: { ...config, Entrypoint: entrypointOf(container) }, persistence };
}

/** A volume's state name and mount: "/var" -> "docker--var" at "var" (the template's replace/trimPrefix). */
function volumeName(path: string): string {
  return `docker-${path.replace(/\/$/, "").replace(/\//g, "-")}`;
}

/** A Go template's truth: not empty, not zero, not false, not nil. */
function truthy(value: Json | undefined): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === "object" && value !== null) return Object.keys(value).length > 0;
  return value !== undefined && value !== null && value !== false && value !== 0 && value !== "";
}

/** What the template writes after `lxc.init.cmd =`: the Entrypoint (a list as `first "second"`), then a list Cmd; else the Cmd; else /sbin/init. */
function initCommand(docker: JsonObject): string {
  const quoted = (list: Json[]): string => list.map((word) => ` "${String(word)}"`).join("");
  const words = (list: Json[]): string => `${String(list[0])}${quoted(list.slice(1))}`;
  const { Entrypoint: entrypoint, Cmd: cmd } = docker;
  let text = "";
  if (truthy(entrypoint)) {
    if (Array.isArray(entrypoint)) {
      if (truthy(entrypoint[0])) text += ` ${words(entrypoint)}`;
      if (Array.isArray(cmd) && truthy(cmd)) text += ` ${quoted(cmd)}`;
    } else text += ` ${String(entrypoint)}`;
  } else if (truthy(cmd)) {
    if (!Array.isArray(cmd)) text += ` ${String(cmd)}`;
    else if (truthy(cmd[0])) text += ` ${words(cmd)}`;
  }
  if (!truthy(cmd) && !truthy(entrypoint)) text += " /sbin/init";
  return text;
}

/** lxc.container.conf as the lxc-docker template renders it (the double spaces are the template's). */
export function renderLxcConf(app: App): string {
  const { name, args, dockerConfig: docker } = app;
  const lines = [
    "lxc.tty.max = 8",
    "lxc.pty.max = 1024",
    "lxc.cgroup.devices.allow = a",
    `lxc.rootfs.path = overlayfs:/volumes/${name}/root.squashfs:/volumes/${name}/lxc-overlay/upper`,
    `lxc.init.cmd =${initCommand(docker)}`,
  ];
  if (typeof docker.WorkingDir === "string" && docker.WorkingDir !== "") lines.push(`lxc.init.cwd = ${docker.WorkingDir}`);
  if (Array.isArray(docker.Env)) for (const env of docker.Env) lines.push(`lxc.environment = ${String(env)}`);
  lines.push("lxc.namespace.keep = user  net  ipc");
  // Only when asked: without a console, what the container prints reaches no log on the device.
  if (args.PV_LXC_DISABLE_CONSOLE) lines.push("lxc.console.path = none");
  lines.push("lxc.mount.auto = proc  sys:rw  cgroup");
  lines.push("lxc.mount.entry = /etc/resolv.conf etc/resolv.conf none bind,rw,create=file 0 0");
  lines.push("lxc.mount.entry = tmpfs run tmpfs rw,nodev,relatime,create=dir,mode=755 0 0");
  for (const path of Object.keys(app.persistence).sort()) {
    if (path === "lxc-overlay") continue;
    lines.push(`lxc.mount.entry = /volumes/${name}/${volumeName(path)} ${path.replace(/^\//, "")} none bind,rw,create=dir 0 0`);
  }
  return lines.join("\n") + "\n";
}

/** run.json as the lxc-docker template renders it, plus what pvr 04x adds from args (services, network). */
export function renderRunJson(app: App): JsonObject {
  const { args } = app;
  const storage: JsonObject = {};
  for (const [path, persistence] of Object.entries(app.persistence)) {
    if (path !== "lxc-overlay") storage[volumeName(path)] = { persistence };
  }
  storage["lxc-overlay"] = { persistence: app.persistence["lxc-overlay"] ?? "boot" };
  const run: JsonObject = {
    "#spec": "service-manifest-run@1",
    name: app.name,
    config: "lxc.container.conf",
    drivers: { manual: [], required: [], optional: [] },
    group: String(args.PV_GROUP),
    storage,
    exports: null,
    logs: null,
    type: "lxc",
    "root-volume": "root.squashfs",
    volumes: [],
  };
  if (args.PV_RESTART_POLICY !== undefined) run.restart_policy = String(args.PV_RESTART_POLICY);
  if (args.PV_STATUS_GOAL !== undefined) run.status_goal = String(args.PV_STATUS_GOAL);
  // Pantavisor's container roles (mgmt: may use pv-ctrl's management endpoints, as mesh-view needs),
  // as meta-pantavisor's PVR_APP_ADD_ROLES writes them.
  if (Array.isArray(args.PV_ROLES)) run.roles = args.PV_ROLES;
  // pv-xconnect's requirements, as given (Pantavisor's xconnect reference).
  const services: JsonObject = {};
  if (Array.isArray(args.PV_SERVICES_REQUIRED)) services.required = args.PV_SERVICES_REQUIRED;
  if (Array.isArray(args.PV_SERVICES_OPTIONAL)) services.optional = args.PV_SERVICES_OPTIONAL;
  if (Object.keys(services).length > 0) run.services = services;
  // IPAM, as Pantavisor's IPAM reference maps the arguments to run.json.
  if (args.PV_NETWORK_POOL !== undefined) {
    const network: JsonObject = { mode: "pool", pool: String(args.PV_NETWORK_POOL) };
    if (args.PV_NETWORK_HOSTNAME !== undefined) network.hostname = String(args.PV_NETWORK_HOSTNAME);
    if (args.PV_NETWORK_IP !== undefined) network.interfaces = [{ ipv4_address: String(args.PV_NETWORK_IP) }];
    run.network = network;
  }
  return run;
}

export const sha256 = (data: Buffer): string => createHash("sha256").update(data).digest("hex");

/** The sha256 of a file, read as a stream (an image is tens of MB). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** src.json as `pvr app add --type rootfs` writes it, marked as built by pack (the recipe marks "yocto"). */
export function srcJson(app: App, squashfs: string, formatOptions: string, from: string): JsonObject {
  return {
    "#spec": "service-manifest-src@1",
    template: "builtin-lxc-docker",
    args: app.args,
    docker_config: app.dockerConfig,
    format_options: formatOptions,
    persistence: app.persistence,
    rootfs_url: from,
    rootfs_digest: `sha256:${squashfs}`,
    pv_build_origin: "pack",
  };
}

/** An object's content: in memory, or a file (root.squashfs) streamed into the export. */
export type ObjectContent = Buffer | { file: string };

/** A revision state and the objects its non-JSON entries name. */
export interface Export {
  state: JsonObject;
  objects: Map<string, ObjectContent>;
}

export function newExport(): Export {
  return { state: { "#spec": STATE_SPEC }, objects: new Map() };
}

/** Adds a file entry: its content becomes an object, the state keeps its sha256. */
export function addObject(exp: Export, key: string, data: Buffer): void {
  const sha = sha256(data);
  exp.state[key] = sha;
  exp.objects.set(sha, data);
}

/** Adds a file entry whose content is the file `path`, of known sha256 (it must not change until written). */
export function addFileObject(exp: Export, key: string, path: string, sha: string): void {
  exp.state[key] = sha;
  exp.objects.set(sha, { file: path });
}

/** The signing key and certificate chain of `--sign KEY --cert CERT`. */
export interface Signer {
  key: KeyObject;
  /** DER certificates, the signer's first, as the header's x5c. */
  chain: X509Certificate[];
}

export function loadSigner(keyPem: string, certPem: string): Signer {
  const key = createPrivateKey(keyPem);
  const chain = (certPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((pem) => new X509Certificate(pem));
  if (chain.length === 0) throw new Error("the certificate file holds no PEM certificate");
  if (!chain[0].checkPrivateKey(key)) throw new Error("the first certificate is not the signing key's");
  return { key, chain };
}

/** libpvr JwsSign's choice: RS256 for RSA, ES256/384/512 by the EC curve. */
function algorithmOf(key: KeyObject): string {
  if (key.asymmetricKeyType === "rsa") return "RS256";
  const curve = key.asymmetricKeyDetails?.namedCurve;
  const alg = curve === "prime256v1" ? "ES256" : curve === "secp384r1" ? "ES384" : curve === "secp521r1" ? "ES512" : undefined;
  if (alg === undefined) throw new Error(`unsupported signing key (${key.asymmetricKeyType} ${curve ?? ""}): pvr signs with RSA or EC P-256/384/521`);
  return alg;
}

/**
 * Adds `_sigs/<name>.json` as `pvr sig add` writes it: a detached JWS (pvs@2) whose protected
 * header holds alg, the public key (jwk), pvs {include, exclude}, typ PVS and the x5c chain, over
 * the canonical JSON of the entries the globs select. `--part NAME --noconfig` selects NAME/**
 * but NAME/src.json; `--raw NAME --include X` selects X.
 */
export async function sign(exp: Export, name: string, match: { include: string[]; exclude: string[] }, signer: Signer): Promise<void> {
  const payload = Buffer.from(canonicalJson(selectSigned(exp.state, match.include, match.exclude)));
  const jwk = signer.chain[0].publicKey.export({ format: "jwk" }) as JsonObject;
  const header = { alg: algorithmOf(signer.key), jwk, pvs: match, typ: "PVS", x5c: signer.chain.map((cert) => cert.raw.toString("base64")) };
  const jws = await new FlattenedSign(payload).setProtectedHeader(header).sign(signer.key);
  exp.state[`_sigs/${name}.json`] = { "#spec": "pvs@2", protected: jws.protected!, signature: jws.signature };
}

/** Writes the export: `json` (canonical state) first, then every object, gzip'd; atomically. */
export async function writeExport(exp: Export, file: string): Promise<void> {
  const pack = tarStream.pack();
  const partial = `${file}.${process.pid}.partial`;
  // Level 0 (stored blocks, still gzip): the objects are squashfs images, compressed already;
  // deflating them again costs more CPU than mksquashfs and saves under 1 %.
  const written = pipeline(pack, createGzip({ level: 0, chunkSize: 1 << 20 }), createWriteStream(partial));
  // pvr writes name, size, mode and mtime; fixed times keep the same inputs giving the same file.
  const entry = (name: string, content: ObjectContent): Promise<void> =>
    new Promise((resolve, reject) => {
      const done = (error?: Error | null): void => (error ? reject(error) : resolve());
      const header = { name, mode: 0o644, mtime: new Date(0), type: "file" as const };
      if (Buffer.isBuffer(content)) {
        pack.entry({ ...header, size: content.length }, content, done);
        return;
      }
      const stream = pack.entry({ ...header, size: statSync(content.file).size }, done);
      createReadStream(content.file, { highWaterMark: 1 << 20 }).on("error", reject).pipe(stream);
    });
  try {
    await entry("json", Buffer.from(canonicalJson(exp.state)));
    const shas = [...new Set(Object.values(exp.state).filter((value): value is string => typeof value === "string" && exp.objects.has(value)))];
    for (const sha of shas) await entry(`objects/${sha}`, exp.objects.get(sha)!);
    pack.finalize();
    await written;
    renameSync(partial, file);
  } catch (error) {
    pack.destroy();
    rmSync(partial, { force: true });
    throw error;
  }
}
