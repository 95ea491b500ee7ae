// The pvrexport inspector (tools/inspect) against pvrexports this test builds the way `pvr export`
// does (gzip'd ustar: `json` first, then objects/<sha256>), signed like `pvr sig add` (detached JWS
// over the canonical JSON of the selected state entries) with keys generated here, and against
// broken ones: a bad sha, a missing object, a truncated gzip, a foreign tarball, a tampered entry.
import { spawnSync } from "node:child_process";
import { createHash, generateKeyPairSync, sign } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onPath } from "../mesh/process";
import { skipUnless } from "./support/skips";

const ROOT = join(__dirname, "..");
// scripts/build.mjs bundles tools/inspect/main.ts here (vitest's globalSetup runs it).
const BUNDLE = join(ROOT, "dist", "inspect", "main.js");
const DEVICE_JSON = JSON.parse(readFileSync(join(ROOT, "containers", "device-config", "device.json"), "utf8"));

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Canonical JSON, written independently of the inspector's: sorted keys, no whitespace. */
function canonical(value: Json): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function tarHeader(name: string, size: number, type = "0"): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100);
  header.write("0000644\0", 100);
  header.write("0000000\0", 108);
  header.write("0000000\0", 116);
  header.write(`${size.toString(8).padStart(11, "0")}\0`, 124);
  header.write("00000000000\0", 136);
  header.write("        ", 148);
  header.write(type, 156);
  header.write("ustar\0", 257);
  header.write("00", 263);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  return header;
}

function tar(members: Array<[string, Buffer, string?]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, data, type] of members) {
    parts.push(tarHeader(name, data.length, type), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

const sha256 = (data: Buffer): string => createHash("sha256").update(data).digest("hex");

interface Export {
  state: { [key: string]: Json };
  objects: Map<string, Buffer>;
}

/** A container part as container-pvrexport leaves it: run.json, src.json, services.json, objects. */
function containerExport(name: string): Export {
  const rootfs = Buffer.from(`squashfs of ${name}`);
  const conf = Buffer.from(`lxc.init.cmd = /usr/bin/${name}\n`);
  return {
    state: {
      "#spec": "pantavisor-service-system@1",
      [`${name}/run.json`]: {
        "#spec": "service-manifest-run@1",
        name,
        type: "lxc",
        group: "app",
        config: "lxc.container.conf",
        "root-volume": "root.squashfs",
        services: { required: [{ name: "raw", target: "/run/pv/services/raw.sock" }] },
      },
      [`${name}/src.json`]: { "#spec": "service-manifest-src@1", docker_config: { Entrypoint: [`/usr/bin/${name}`] } },
      [`${name}/services.json`]: { "#spec": "service-manifest-xconnect@1", services: [{ name: "echo", type: "unix", socket: "/run/example/echo.sock" }] },
      [`${name}/root.squashfs`]: sha256(rootfs),
      [`${name}/lxc.container.conf`]: sha256(conf),
    },
    objects: new Map([
      [sha256(rootfs), rootfs],
      [sha256(conf), conf],
    ]),
  };
}

/** Signs like `pvr sig add --raw <name> --include ...`: ES256, the public key embedded as jwk. */
function signRaw(exp: Export, name: string, include: string[]): void {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const exclude = ["**/src.json", `_sigs/${name}.json`];
  const header = { alg: "ES256", jwk: publicKey.export({ format: "jwk" }) as Json, pvs: { include, exclude }, typ: "PVS" };
  const protectedB64 = Buffer.from(JSON.stringify(header)).toString("base64url");
  const selected: { [key: string]: Json } = {};
  for (const key of include) selected[key] = exp.state[key];
  const payload = Buffer.from(canonical(selected)).toString("base64url");
  const signature = sign("sha256", Buffer.from(`${protectedB64}.${payload}`), { key: privateKey, dsaEncoding: "ieee-p1363" });
  exp.state[`_sigs/${name}.json`] = { "#spec": "pvs@2", protected: protectedB64, signature: signature.toString("base64url") };
}

function pack(exp: Export, objectOrder = [...exp.objects.keys()]): Buffer {
  const members: Array<[string, Buffer]> = [["json", Buffer.from(canonical(exp.state))]];
  for (const sha of objectOrder) members.push([`objects/${sha}`, exp.objects.get(sha)!]);
  return gzipSync(tar(members));
}

describe("inspect bundle", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "pv-inspect-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function inspect(file: string, ...args: string[]): { code: number | null; out: string; err: string } {
    const result = spawnSync(process.execPath, [BUNDLE, file, ...args], { encoding: "utf8", timeout: 20_000 });
    return { code: result.status, out: result.stdout, err: result.stderr };
  }

  function write(name: string, data: Buffer): string {
    const file = join(dir, name);
    writeFileSync(file, data);
    return file;
  }

  it("explains a consistent container export and exits 0", () => {
    const result = inspect(write("unix.pvrexport.tgz", pack(containerExport("pv-example-unix-client"))));
    expect(result.err).toBe("");
    expect(result.code).toBe(0);
    expect(result.out).toContain("container pv-example-unix-client");
    expect(result.out).toContain("  group: app");
    expect(result.out).toContain("  entrypoint: /usr/bin/pv-example-unix-client");
    expect(result.out).toContain("  services required: raw -> /run/pv/services/raw.sock");
    expect(result.out).toContain('"services":[{"name":"echo","socket":"/run/example/echo.sock","type":"unix"}]');
    expect(result.out).toContain("  console: yes (its output reaches logs/<rev>/pv-example-unix-client/lxc/console.log)");
    expect(result.out).toContain("OK: archive is consistent");
  });

  it("says when a container has no console (its output would reach no log)", () => {
    const exp = containerExport("pv-example-unix-client");
    const confKey = "pv-example-unix-client/lxc.container.conf";
    const conf = Buffer.from("lxc.init.cmd = /usr/bin/pv-example-unix-client\nlxc.console.path = none\n");
    exp.objects.delete(exp.state[confKey] as string);
    exp.state[confKey] = sha256(conf);
    exp.objects.set(sha256(conf), conf);
    const result = inspect(write("noconsole.pvrexport.tgz", pack(exp)));
    expect(result.out).toContain("  console: none (lxc.console.path = none: its output reaches no log)");
  });

  it("reports a directory entry for objects/, which crashes pvtx add", () => {
    const exp = containerExport("pv-example-unix-server");
    const members: Array<[string, Buffer, string?]> = [["json", Buffer.from(canonical(exp.state))], ["objects/", Buffer.alloc(0), "5"]];
    for (const [sha, data] of exp.objects) members.push([`objects/${sha}`, data]);
    const result = inspect(write("withdir.pvrexport.tgz", gzipSync(tar(members))));
    expect(result.code).toBe(1);
    expect(result.out).toContain('PROBLEM: unexpected member "objects/" (a directory entry, which makes pvtx add crash)');
  });

  it("decodes and verifies a device-config signature like the seed's", () => {
    const exp: Export = { state: { "#spec": "pantavisor-service-system@1", "device.json": DEVICE_JSON }, objects: new Map() };
    signRaw(exp, "device-config", ["device.json"]);
    const result = inspect(write("device-config.pvrexport.tgz", pack(exp)), "--verify");
    expect(result.code).toBe(0);
    expect(result.out).toContain("signature _sigs/device-config.json");
    expect(result.out).toMatch(/alg: ES256 {2}typ: PVS {2}key: jwk/);
    expect(result.out).toContain("include: device.json");
    expect(result.out).toContain("exclude: **/src.json _sigs/device-config.json");
    expect(result.out).toContain("verify OK: _sigs/device-config.json: valid ES256 signature over 1 entries");
  });

  it("fails verification when a signed entry changed after signing", () => {
    const exp: Export = { state: { "#spec": "pantavisor-service-system@1", "device.json": structuredClone(DEVICE_JSON) }, objects: new Map() };
    signRaw(exp, "device-config", ["device.json"]);
    (exp.state["device.json"] as { network: { pools: { internal: { subnet: string } } } }).network.pools.internal.subnet = "10.9.9.0/24";
    const file = write("tampered.pvrexport.tgz", pack(exp));
    expect(inspect(file).code).toBe(0); // without --verify only the structure is checked
    const result = inspect(file, "--verify");
    expect(result.code).toBe(1);
    expect(result.out).toContain("verify FAILED: _sigs/device-config.json: signature does not match the signed entries (device.json)");
  });

  it("reports an object whose content does not hash to its name", () => {
    const exp = containerExport("pv-example-unix-server");
    const [sha] = exp.objects.keys();
    exp.objects.set(sha, Buffer.from("corrupted"));
    const result = inspect(write("badsha.pvrexport.tgz", pack(exp)));
    expect(result.code).toBe(1);
    expect(result.out).toContain(`PROBLEM: object ${sha} has sha256 ${sha256(Buffer.from("corrupted"))}: its content does not match its name`);
  });

  it("reports a state entry whose object is missing", () => {
    const exp = containerExport("pv-example-unix-server");
    const sha = exp.state["pv-example-unix-server/root.squashfs"] as string;
    const result = inspect(write("missing.pvrexport.tgz", pack(exp, [...exp.objects.keys()].filter((s) => s !== sha))));
    expect(result.code).toBe(1);
    expect(result.out).toContain(`PROBLEM: state entry pv-example-unix-server/root.squashfs needs object ${sha}, which the archive does not contain`);
  });

  it("refuses a truncated gzip with one clear line", () => {
    const whole = pack(containerExport("pv-example-unix-server"));
    const result = inspect(write("truncated.pvrexport.tgz", whole.subarray(0, Math.floor(whole.length / 2))));
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/FAILED: .*truncated\.pvrexport\.tgz: gzip stream ends early: the file is truncated\n$/);
    expect(result.err.split("\n").filter(Boolean)).toHaveLength(1);
  });

  it("refuses a tarball that is not a pvrexport, and a file that is not gzip", () => {
    const foreign = inspect(write("foreign.tgz", gzipSync(tar([["README", Buffer.from("hello")]]))));
    expect(foreign.code).toBe(2);
    expect(foreign.err).toContain('first member is "README", not "json": not a pvrexport');
    const otherSpec = inspect(write("spec.tgz", gzipSync(tar([["json", Buffer.from('{"#spec":"something-else@1"}')]]))));
    expect(otherSpec.code).toBe(2);
    expect(otherSpec.err).toContain('state #spec is "something-else@1", expected "pantavisor-service-system@1"');
    const plain = inspect(write("plain.tgz", Buffer.from("just text")));
    expect(plain.code).toBe(2);
    expect(plain.err).toContain("not a gzip file");
  });

  it("says so when the gzip holds something that is not a tar (short or long)", () => {
    for (const [name, text] of [["short.tgz", "just text\n"], ["long.tgz", "a line of text that is not a tar header\n".repeat(40)]]) {
      const result = inspect(write(name, gzipSync(Buffer.from(text))));
      expect(result.code, name).toBe(2);
      expect(result.err, name).toMatch(new RegExp(`FAILED: .*${name}: the gzip stream holds no tar archive \\(.*\\): not a pvrexport\n$`));
      expect(result.err.split("\n").filter(Boolean), name).toHaveLength(1);
    }
  });

  it("says so when the tar inside ends early", () => {
    const whole = tar([["json", Buffer.from('{"#spec":"pantavisor-service-system@1"}')], [`objects/${"a".repeat(64)}`, Buffer.alloc(4096, 1)]]);
    const result = inspect(write("short-tar.pvrexport.tgz", gzipSync(whole.subarray(0, 2048))));
    expect(result.code).toBe(2);
    expect(result.err).toContain('the tar archive ends early after member "json": the file is truncated');
  });

  it.skipIf(skipUnless(onPath("openssl"), "x5c chain", "needs openssl: node:crypto cannot issue X.509 certificates"))("checks an x5c chain against a CA with --ca", () => {
    const run = (...args: string[]): void => {
      const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
      if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
    };
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=test CA", "-days", "2");
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "signer.key", "-out", "signer.csr", "-subj", "/CN=test signer");
    run("x509", "-req", "-in", "signer.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "signer.pem", "-days", "2");
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other.key", "-out", "other.pem", "-subj", "/CN=other CA", "-days", "2");

    const der = (pem: string): string => pem.replace(/-----[^-]+-----|\s/g, "");
    const exp: Export = { state: { "#spec": "pantavisor-service-system@1", "device.json": DEVICE_JSON }, objects: new Map() };
    const header = { alg: "RS256", pvs: { include: ["device.json"], exclude: ["**/src.json", "_sigs/device-config.json"] }, typ: "PVS", x5c: [der(readFileSync(join(dir, "signer.pem"), "utf8"))] };
    const protectedB64 = Buffer.from(JSON.stringify(header)).toString("base64url");
    const payload = Buffer.from(canonical({ "device.json": DEVICE_JSON })).toString("base64url");
    const signature = sign("sha256", Buffer.from(`${protectedB64}.${payload}`), readFileSync(join(dir, "signer.key"), "utf8"));
    exp.state["_sigs/device-config.json"] = { "#spec": "pvs@2", protected: protectedB64, signature: signature.toString("base64url") };
    const file = write("x5c.pvrexport.tgz", pack(exp));

    const trusted = inspect(file, "--ca", join(dir, "ca.pem"));
    expect(trusted.out).toContain("key: x5c (CN=test signer)");
    expect(trusted.out).toContain("signer chains to the CA");
    expect(trusted.code).toBe(0);
    const untrusted = inspect(file, "--ca", join(dir, "other.pem"));
    expect(untrusted.code).toBe(1);
    expect(untrusted.out).toContain("the x5c chain does not lead to a certificate in the CA file");
  });

  it("says how to use it when the file is missing", () => {
    const result = inspect(join(dir, "nope.pvrexport.tgz"));
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/FAILED: cannot read .*nope\.pvrexport\.tgz: ENOENT/);
    expect(existsSync(BUNDLE)).toBe(true);
  });
});
