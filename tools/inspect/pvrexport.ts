// Reading and checking a pvrexport (what `pvr export` writes and the Yocto recipes deploy):
// a gzip'd tar whose first member is `json` (the revision state, `#spec`
// pantavisor-service-system@1) followed by `objects/<sha256>` for every non-inline state entry.
// State keys are paths: `*.json` keys hold inline JSON, every other key holds the sha256 of an
// object. Signatures `_sigs/<name>.json` are detached JWS (`#spec` pvs@2) over the state entries
// their protected header selects (pvs.include / pvs.exclude globs), serialized as canonical JSON.
//
// The library never prints: it returns what it found (and `problems`, one sentence each) so the
// CLI decides how to show it and the tests assert on it. `npm run pack` (tools/pack) writes its
// exports with the same canonical JSON and signed-entry selection.
//
// Libraries: tar-stream reads the tar, jose checks the JWS; the x5c chain is checked with
// node:crypto's X509Certificate (jose does not validate certificate chains).
import { createHash, createPublicKey, X509Certificate, type KeyObject } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { errors as joseErrors, flattenedVerify } from "jose";
import * as tarStream from "tar-stream";

export const STATE_SPEC = "pantavisor-service-system@1";
export const SIGNATURE_SPEC = "pvs@2";
const OBJECT_NAME = /^objects\/([0-9a-f]{64})$/;

/** Thrown when the file is not a pvrexport at all (not gzip, truncated, not a tar, no state). */
export class PvrexportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PvrexportError";
  }
}

export interface TarMember {
  name: string;
  /** tar-stream's type: "file", "directory", "symlink", ... */
  type: string;
  data: Buffer;
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface ContainerSummary {
  name: string;
  group: string | null;
  entrypoint: string | null;
  required: JsonObject[];
  /** The container's services.json as stored in the state, or null when it exports nothing. */
  services: Json | null;
  /**
   * Whether the container has a console: Pantavisor writes what it prints to
   * logs/<rev>/<name>/lxc/console.log only then (lxc.console.path = none turns it off).
   * null when lxc.container.conf is not in the archive.
   */
  console: boolean | null;
}

export interface SignatureSummary {
  /** The state key, `_sigs/<name>.json`. */
  key: string;
  alg: string | null;
  typ: string | null;
  include: string[];
  exclude: string[];
  /** Where the verification key comes from: "x5c" (certificate chain), "jwk", or null. */
  keySource: "x5c" | "jwk" | null;
  /** Subject of the first x5c certificate, when there is one. */
  subject: string | null;
}

export interface Pvrexport {
  state: JsonObject;
  objects: Map<string, Buffer>;
  containers: ContainerSummary[];
  signatures: SignatureSummary[];
  /** Everything wrong with the archive, one sentence each; empty when it is consistent. */
  problems: string[];
}

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function gunzip(archive: Buffer, file: string): Buffer {
  if (archive.length < 2 || archive[0] !== 0x1f || archive[1] !== 0x8b) {
    throw new PvrexportError(`${file}: not a gzip file (a pvrexport is a .tgz written by \`pvr export\`)`);
  }
  try {
    return gunzipSync(archive);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "Z_BUF_ERROR") throw new PvrexportError(`${file}: gzip stream ends early: the file is truncated`);
    throw new PvrexportError(`${file}: corrupt gzip stream (${(error as Error).message})`);
  }
}

/**
 * The members of an uncompressed tar (tar-stream reads ustar, PAX and GNU long names, as Go's
 * archive/tar writes them). A stream that fails before its first member is not a tar at all.
 */
export async function readTar(tar: Buffer, file: string): Promise<TarMember[]> {
  const members: TarMember[] = [];
  const extract = tarStream.extract();
  extract.end(tar);
  try {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk);
      members.push({ name: entry.header.name, type: entry.header.type ?? "file", data: Buffer.concat(chunks) });
    }
  } catch (error) {
    const why = (error as Error).message;
    if (members.length === 0) throw new PvrexportError(`${file}: the gzip stream holds no tar archive (${why.replace(/\. Maybe.*$/, "")}): not a pvrexport`);
    const ended = /unexpected end/i.test(why);
    throw new PvrexportError(`${file}: the tar archive ${ended ? "ends early" : `is damaged (${why})`} after member "${members.at(-1)!.name}"${ended ? ": the file is truncated" : ""}`);
  }
  return members;
}

/** Canonical JSON as pvr writes it (gibson042/canonicaljson-go): sorted keys, no whitespace. */
export function canonicalJson(value: Json): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (isObject(value)) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((key) => `${canonicalString(key)}:${canonicalJson(value[key])}`).join(",")}}`;
  }
  if (typeof value === "string") return canonicalString(value);
  if (typeof value === "number" && !Number.isInteger(value)) {
    // Canonical JSON writes non-integers as a normalized exponent form: 1.5E0, 2.5E-1.
    const [mantissa, exponent] = value.toExponential().split("e");
    return `${mantissa.includes(".") ? mantissa : `${mantissa}.0`}E${Number(exponent)}`;
  }
  return JSON.stringify(value);
}

function canonicalString(text: string): string {
  // Only `"`, `\` and control characters are escaped; \u escapes use upper-case hex.
  return JSON.stringify(text).replace(/\\u([0-9a-f]{4})/g, (_match, hex: string) => `\\u${hex.toUpperCase()}`);
}

/** doublestar.Match semantics: `*` and `?` stay inside one path segment, `**` spans segments. */
export function globToRegExp(glob: string): RegExp {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*" && glob[i + 1] === "*") {
      const slash = glob[i + 2] === "/";
      out += slash ? "(?:.*/)?" : ".*";
      i += slash ? 2 : 1;
    } else if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else if (c === "{") out += "(?:";
    else if (c === "}") out += ")";
    else if (c === ",") out += "|";
    else if (c === "[") {
      const close = glob.indexOf("]", i + 1);
      if (close === -1) throw new PvrexportError(`bad glob "${glob}": unclosed [`);
      out += `[${glob.slice(i + 1, close).replace(/^!/, "^").replace(/\\/g, "\\\\")}]`;
      i = close;
    } else out += c.replace(/[.+^$()|\\/]/g, "\\$&");
  }
  return new RegExp(`^${out}$`);
}

/** The entries a signature covers: included by some include glob and excluded by none. */
export function selectSigned(state: JsonObject, include: string[], exclude: string[]): JsonObject {
  const includes = include.map(globToRegExp);
  const excludes = exclude.map(globToRegExp);
  const selected: JsonObject = {};
  for (const [key, value] of Object.entries(state)) {
    if (includes.some((re) => re.test(key)) && !excludes.some((re) => re.test(key))) selected[key] = value;
  }
  return selected;
}

function base64urlJson(text: string, what: string): JsonObject {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
  } catch {
    throw new PvrexportError(`${what}: protected header is not base64url-encoded JSON`);
  }
  if (!isObject(decoded as Json)) throw new PvrexportError(`${what}: protected header is not a JSON object`);
  return decoded as JsonObject;
}

function strings(value: Json | undefined): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
}

/** Decodes `_sigs/<name>.json`'s protected header (alg, typ, key, pvs include/exclude). */
export function describeSignature(key: string, signature: Json): SignatureSummary {
  if (!isObject(signature) || typeof signature.protected !== "string") {
    throw new PvrexportError(`${key}: not a signature (no "protected" string)`);
  }
  const header = base64urlJson(signature.protected, key);
  const pvs = isObject(header.pvs) ? header.pvs : {};
  const x5c = strings(header.x5c);
  let subject: string | null = null;
  if (x5c.length > 0) {
    try {
      subject = new X509Certificate(Buffer.from(x5c[0], "base64")).subject.replace(/\n/g, ", ");
    } catch {
      subject = "(unparsable certificate)";
    }
  }
  return {
    key,
    alg: typeof header.alg === "string" ? header.alg : null,
    typ: typeof header.typ === "string" ? header.typ : null,
    include: strings(pvs.include),
    exclude: strings(pvs.exclude),
    keySource: x5c.length > 0 ? "x5c" : isObject(header.jwk) ? "jwk" : null,
    subject,
  };
}

export interface VerifyResult {
  ok: boolean;
  /** What was checked, or why it failed. */
  detail: string;
  /** The state keys the signature covers. */
  covered: string[];
}

/** The state entries `_sigs/<name>.json` covers, with pvr's defaults when its header omits them (libpvr JwsSign). */
export function signedEntries(state: JsonObject, key: string, pvs: Json | undefined): JsonObject {
  const match = isObject(pvs) ? pvs : {};
  const include = Array.isArray(match.include) ? strings(match.include) : ["*"];
  const exclude = Array.isArray(match.exclude) ? strings(match.exclude) : ["**/src.json", key];
  return selectSigned(state, include, exclude);
}

/**
 * Verifies one signature against the state with the key its header carries (x5c's first
 * certificate, else the embedded jwk). With `caPem`, the x5c chain must also lead to one of
 * those certificates; without it, the result says the signer is untrusted-but-consistent.
 */
export async function verifySignature(state: JsonObject, key: string, caPem?: string): Promise<VerifyResult> {
  const signature = state[key];
  if (!isObject(signature) || signature["#spec"] !== SIGNATURE_SPEC) {
    return { ok: false, detail: `${key}: #spec is not "${SIGNATURE_SPEC}"`, covered: [] };
  }
  if (typeof signature.signature !== "string" || typeof signature.protected !== "string") {
    return { ok: false, detail: `${key}: "protected" or "signature" missing`, covered: [] };
  }
  const header = base64urlJson(signature.protected, key);
  const alg = typeof header.alg === "string" ? header.alg : "";
  if (!/^(RS|PS|ES)(256|384|512)$/.test(alg)) return { ok: false, detail: `${key}: unsupported alg "${alg}"`, covered: [] };

  const selected = signedEntries(state, key, header.pvs);
  const covered = Object.keys(selected).sort();
  let publicKey: KeyObject;
  const chain: X509Certificate[] = [];
  try {
    for (const der of strings(header.x5c)) chain.push(new X509Certificate(Buffer.from(der, "base64")));
    if (chain.length > 0) publicKey = chain[0].publicKey;
    else if (isObject(header.jwk)) publicKey = createPublicKey({ key: header.jwk as Record<string, string>, format: "jwk" });
    else return { ok: false, detail: `${key}: the header carries no key (neither x5c nor jwk)`, covered: [] };
  } catch (error) {
    return { ok: false, detail: `${key}: cannot read the header's key (${(error as Error).message})`, covered: [] };
  }

  // The payload is detached: it is the canonical JSON of the covered entries, rebuilt here.
  const payload = Buffer.from(canonicalJson(selected)).toString("base64url");
  try {
    await flattenedVerify({ protected: signature.protected, payload, signature: signature.signature }, publicKey, { algorithms: [alg] });
  } catch (error) {
    if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
      return { ok: false, detail: `${key}: signature does not match the signed entries (${covered.join(", ") || "none"})`, covered };
    }
    return { ok: false, detail: `${key}: verification error (${(error as Error).message})`, covered: [] };
  }
  if (caPem === undefined) {
    return { ok: true, detail: `${key}: valid ${alg} signature over ${covered.length} entries (signer not checked against a CA)`, covered };
  }
  const trusted = chainLeadsTo(chain, caPem);
  if (trusted !== true) return { ok: false, detail: `${key}: signature valid but ${trusted}`, covered };
  return { ok: true, detail: `${key}: valid ${alg} signature over ${covered.length} entries, signer chains to the CA`, covered };
}

/** True when each certificate is issued by the next and the last by a CA certificate; else why not. */
function chainLeadsTo(chain: X509Certificate[], caPem: string): true | string {
  if (chain.length === 0) return "the header has no x5c chain to check against the CA";
  const cas = (caPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((pem) => new X509Certificate(pem));
  if (cas.length === 0) return "the CA file holds no certificate";
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!chain[i].checkIssued(chain[i + 1]) || !chain[i].verify(chain[i + 1].publicKey)) return `x5c[${i}] is not issued by x5c[${i + 1}]`;
  }
  const last = chain[chain.length - 1];
  const ok = cas.some((ca) => last.fingerprint256 === ca.fingerprint256 || (last.checkIssued(ca) && last.verify(ca.publicKey)));
  return ok ? true : "the x5c chain does not lead to a certificate in the CA file";
}

/** lxc.console.path = none (the last setting wins, as in LXC) silences the container's console.log. */
function hasConsole(conf: Buffer | undefined): boolean | null {
  if (conf === undefined) return null;
  const settings = [...conf.toString("utf8").matchAll(/^\s*lxc\.console\.path\s*=\s*(\S*)\s*$/gm)];
  return settings.length === 0 || settings.at(-1)![1] !== "none";
}

function summarizeContainer(state: JsonObject, objects: Map<string, Buffer>, name: string): ContainerSummary {
  const run = state[`${name}/run.json`] as JsonObject;
  const src = isObject(state[`${name}/src.json`]) ? (state[`${name}/src.json`] as JsonObject) : {};
  const services = isObject(run.services) ? run.services : {};
  const required = (Array.isArray(services.required) ? services.required : []).filter(isObject);
  return {
    name,
    group: typeof run.group === "string" ? run.group : null,
    entrypoint: entrypointOf(src),
    required,
    services: state[`${name}/services.json`] ?? null,
    console: hasConsole(objects.get(String(state[`${name}/lxc.container.conf`]))),
  };
}

/** pvr keeps `--config=Entrypoint=...` in src.json's docker config (the key name varies by pvr version). */
function entrypointOf(src: JsonObject): string | null {
  for (const key of ["docker_config", "config"]) {
    const config = src[key];
    if (!isObject(config)) continue;
    const entrypoint = config.Entrypoint;
    if (typeof entrypoint === "string") return entrypoint;
    if (Array.isArray(entrypoint)) return entrypoint.join(" ");
  }
  return null;
}

/** Reads a .pvrexport.tgz. Throws PvrexportError when it is not one; lists inconsistencies in `problems`. */
export async function readPvrexport(archive: Buffer, file: string): Promise<Pvrexport> {
  const members = await readTar(gunzip(archive, file), file);
  if (members.length === 0) throw new PvrexportError(`${file}: empty tar archive`);
  const [first, ...rest] = members;
  if (first.name !== "json" || first.type !== "file") {
    throw new PvrexportError(`${file}: first member is "${first.name}", not "json": not a pvrexport`);
  }
  let state: Json;
  try {
    state = JSON.parse(first.data.toString("utf8")) as Json;
  } catch (error) {
    throw new PvrexportError(`${file}: member "json" is not valid JSON (${(error as Error).message})`);
  }
  if (!isObject(state) || state["#spec"] !== STATE_SPEC) {
    const spec = isObject(state) ? JSON.stringify(state["#spec"]) : "none";
    throw new PvrexportError(`${file}: state #spec is ${spec}, expected "${STATE_SPEC}": not a pvrexport`);
  }

  const problems: string[] = [];
  const objects = new Map<string, Buffer>();
  for (const member of rest) {
    const match = OBJECT_NAME.exec(member.name);
    if (!match || member.type !== "file") {
      // Measured on appengine: a directory entry (objects/) makes `pvtx add` crash.
      const why = member.type === "directory" ? "a directory entry, which makes pvtx add crash" : member.type;
      problems.push(`unexpected member "${member.name}" (${why}): only objects/<sha256> files may follow json`);
      continue;
    }
    const actual = createHash("sha256").update(member.data).digest("hex");
    if (actual !== match[1]) problems.push(`object ${match[1]} has sha256 ${actual}: its content does not match its name`);
    objects.set(match[1], member.data);
  }

  const referenced = new Set<string>();
  for (const [key, value] of Object.entries(state)) {
    if (key === "#spec") continue;
    if (key.endsWith(".json")) {
      if (!isObject(value)) problems.push(`state entry ${key} should be inline JSON, got ${JSON.stringify(value)}`);
      continue;
    }
    if (typeof value !== "string" || !/^[0-9a-f]{64}$/.test(value)) {
      problems.push(`state entry ${key} should be a sha256, got ${JSON.stringify(value)}`);
      continue;
    }
    referenced.add(value);
    if (!objects.has(value)) problems.push(`state entry ${key} needs object ${value}, which the archive does not contain`);
  }
  for (const sha of objects.keys()) {
    if (!referenced.has(sha)) problems.push(`object ${sha} is not referenced by any state entry`);
  }

  const containers = Object.keys(state)
    .filter((key) => key.endsWith("/run.json") && key.split("/").length === 2 && isObject(state[key]))
    .map((key) => summarizeContainer(state, objects, key.slice(0, -"/run.json".length)))
    .sort((a, b) => a.name.localeCompare(b.name));

  const signatures: SignatureSummary[] = [];
  for (const key of Object.keys(state).filter((k) => k.startsWith("_sigs/") && k.endsWith(".json")).sort()) {
    try {
      signatures.push(describeSignature(key, state[key]));
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  return { state, objects, containers, signatures, problems };
}
