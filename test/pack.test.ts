// `npm run pack` checked as a user of its exports would: every export passes inspect (structure,
// hashes; signatures when signed) and holds `json` and objects/<sha> files only; every image is
// self-contained (its entrypoint answers --help inside the unsquashed image, in a private mount
// namespace where nothing of the host is reachable, exactly as the host's bundle does); the unix
// and REST pairs run from their images through the local mesh, each in its own root. Running
// images needs root (unsquashfs keeps ownership, unshare needs CAP_SYS_ADMIN): CI runs as root.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onPath } from "../mesh/process";
import { startMesh, type Mesh } from "../mesh/xconnect";
import { readPvrexport, type JsonObject, type Pvrexport } from "../tools/inspect/pvrexport";
import { containerNames } from "../tools/pack/container";
import { treeDigest } from "../tools/pack/image";
import { bundle, cleanUp, REPO, scratchDir } from "./support/bundles";
import { skipUnless } from "./support/skips";

const PACK = join(REPO, "dist", "pack", "main.js");
const INSPECT = join(REPO, "dist", "inspect", "main.js");
const NAMES = [...containerNames(REPO), "device-config"];
const IS_ROOT = process.getuid?.() === 0;
const CAN_RUN_IMAGES = IS_ROOT && onPath("unsquashfs") && onPath("unshare");
const WHY_NOT = !IS_ROOT ? "needs root: unsquashfs keeps the image's root ownership and unshare needs CAP_SYS_ADMIN" : "needs unsquashfs (squashfs-tools) and unshare";
/** What LXC's autodev gives a container. */
const DEVICES = ["/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"];

function run(command: string, args: string[], timeoutMs = 600_000): { code: number | null; out: string; err: string } {
  const result = spawnSync(command, args, { encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 << 20 });
  return { code: result.status, out: result.stdout, err: result.stderr };
}

const exportFile = (dir: string, name: string): string => join(dir, `pv-example-${name}.pvrexport.tgz`);

/** Unsquashes `name`'s root.squashfs from its export into a fresh directory and returns it. */
async function unpackImage(exp: Pvrexport, name: string, into: string): Promise<string> {
  const squashfs = exp.objects.get(exp.state[`pv-example-${name}/root.squashfs`] as string)!;
  const file = join(into, `${name}.squashfs`);
  writeFileSync(file, squashfs);
  const root = join(into, name);
  const result = run("unsquashfs", ["-q", "-no-progress", "-d", root, file]);
  if (result.code !== 0) throw new Error(`unsquashfs ${name}: ${result.err}`);
  for (const device of DEVICES) spawnSync("cp", ["-a", device, join(root, device)]);
  return root;
}

/** Runs `command` inside the image at `root`: private mount namespace, /proc mounted, empty environment. */
function inImage(root: string, command: string[]): { code: number | null; out: string; err: string } {
  return run("unshare", ["--mount", "--propagation", "private", `--root=${root}`, "--mount-proc", "/usr/bin/env", "-i", ...command], 60_000);
}

describe("npm run pack (every container, unsigned)", () => {
  let out: string;
  const exports = new Map<string, Pvrexport>();
  beforeAll(async () => {
    out = scratchDir("pv-pack-");
    const result = run(process.execPath, [PACK, "--out", out]);
    expect(result.err).toBe("");
    expect(result.code).toBe(0);
    for (const name of NAMES) exports.set(name, await readPvrexport(readFileSync(exportFile(out, name)), name));
  }, 900_000);
  afterAll(cleanUp);

  it.each(NAMES)("pv-example-%s passes inspect", (name) => {
    const result = run(process.execPath, [INSPECT, exportFile(out, name)], 60_000);
    expect(result.err).toBe("");
    expect(result.out).toContain("OK: archive is consistent");
    expect(result.code).toBe(0);
    if (name !== "device-config") {
      expect(result.out).toContain(`container pv-example-${name}`);
      expect(result.out).toContain(`  entrypoint: /usr/bin/pv-example-${name}`);
      expect(result.out).toContain("  group: app");
      // Measured on appengine: only a container with a console gets its output into console.log.
      expect(result.out).toContain(`  console: yes (its output reaches logs/<rev>/pv-example-${name}/lxc/console.log)`);
    }
  });

  it.each(NAMES)("pv-example-%s holds json first, then objects/<sha256> files only, each object once", (name) => {
    const exp = exports.get(name)!;
    expect(exp.problems).toEqual([]);
    const keys = Object.keys(exp.state).filter((key) => key !== "#spec");
    const shas = keys.filter((key) => !key.endsWith(".json")).map((key) => exp.state[key]);
    expect([...exp.objects.keys()].sort()).toEqual([...new Set(shas)].sort());
    if (name === "device-config") expect(keys).toEqual(["device.json"]);
    else expect(keys.every((key) => key.startsWith(`pv-example-${name}/`))).toBe(true);
  });

  it("renders lxc.container.conf and run.json as pvr's lxc-docker template does for the recipe's arguments", () => {
    const exp = exports.get("unix-client")!;
    const conf = exp.objects.get(exp.state["pv-example-unix-client/lxc.container.conf"] as string)!.toString("utf8");
    expect(conf).toBe(
      [
        "lxc.tty.max = 8",
        "lxc.pty.max = 1024",
        "lxc.cgroup.devices.allow = a",
        "lxc.rootfs.path = overlayfs:/volumes/pv-example-unix-client/root.squashfs:/volumes/pv-example-unix-client/lxc-overlay/upper",
        "lxc.init.cmd = /usr/bin/pv-example-unix-client",
        "lxc.namespace.keep = user  net  ipc",
        "lxc.mount.auto = proc  sys:rw  cgroup",
        "lxc.mount.entry = /etc/resolv.conf etc/resolv.conf none bind,rw,create=file 0 0",
        "lxc.mount.entry = tmpfs run tmpfs rw,nodev,relatime,create=dir,mode=755 0 0",
        "lxc.mount.entry = /volumes/pv-example-unix-client/docker--var var none bind,rw,create=dir 0 0",
        "",
      ].join("\n"),
    );
    const run = exp.state["pv-example-unix-client/run.json"] as JsonObject;
    expect(run).toMatchObject({
      "#spec": "service-manifest-run@1",
      name: "pv-example-unix-client",
      config: "lxc.container.conf",
      type: "lxc",
      "root-volume": "root.squashfs",
      group: "app",
      storage: { "docker--var": { persistence: "permanent" }, "lxc-overlay": { persistence: "boot" } },
      services: { required: [{ name: "raw", target: "/run/pv/services/raw.sock" }] },
    });
    expect(exports.get("ipam-valid")!.state["pv-example-ipam-valid/run.json"]).toMatchObject({
      restart_policy: "container",
      network: { mode: "pool", pool: "internal", interfaces: [{ ipv4_address: "10.0.3.50" }] },
    });
    expect(exports.get("drm-provider")!.state["pv-example-drm-provider/mdev.json"]).toEqual({ rules: [".* 0:0 666"] });
    expect(exports.get("drm-master")!.state["pv-example-drm-master/mdev.json"]).toBeUndefined();
  });

  it("packs the same inputs into the same bytes, squashing again (--fresh) or reusing the unchanged image", () => {
    const again = scratchDir("pv-pack-again-");
    const fresh = run(process.execPath, [PACK, "unix-server", "--out", again, "--fresh"]);
    expect(fresh.code).toBe(0);
    expect(fresh.out).not.toContain("image unchanged");
    expect(readFileSync(exportFile(again, "unix-server")).equals(readFileSync(exportFile(out, "unix-server")))).toBe(true);
    const reused = run(process.execPath, [PACK, "unix-server", "--out", again]);
    expect(reused.out).toMatch(/pv-example-unix-server\.pvrexport\.tgz {2}[\d.]+ MB {2}\([\d.]+ s, image unchanged\)/);
    expect(readFileSync(exportFile(again, "unix-server")).equals(readFileSync(exportFile(out, "unix-server")))).toBe(true);
  });

  describe.skipIf(skipUnless(CAN_RUN_IMAGES, "packed images", WHY_NOT))("images (as root)", () => {
    const roots = new Map<string, string>();
    beforeAll(async () => {
      const dir = scratchDir("/tmp/pv-img-");
      for (const name of NAMES.filter((n) => n !== "device-config")) roots.set(name, await unpackImage(exports.get(name)!, name, dir));
    }, 600_000);

    it.each(NAMES.filter((n) => n !== "device-config"))("pv-example-%s: the entrypoint answers --help inside its image as the host's bundle does", (name) => {
      const root = roots.get(name)!;
      const program = JSON.parse(readFileSync(join(REPO, "containers", name, "container.json"), "utf8")).program as string;
      expect(readlinkSync(join(root, "usr/bin", `pv-example-${name}`))).toBe(`/usr/lib/pv-examples/${program}/main.js`);
      const inside = inImage(root, [`/usr/bin/pv-example-${name}`, "--help"]);
      expect(inside.err).toBe("");
      expect(inside.code).toBe(0);
      // The same text: the same program, whole, with the device paths as defaults (no PV_ROOT inside).
      const onHost = run(process.execPath, [bundle(program), "--help"], 60_000);
      expect(inside.out).toBe(onHost.out);
    });

    it("nothing of the host is reachable inside: node runs from the image, with the image's libraries only", () => {
      const root = roots.get("unix-server")!;
      const script = "const maps=require('fs').readFileSync('/proc/self/maps','utf8');console.log(JSON.stringify({exec:process.execPath,files:[...new Set(maps.split('\\n').map(l=>l.split(/\\s+/)[5]).filter(f=>f&&f.startsWith('/')))]}))";
      const result = inImage(root, ["/usr/bin/node", "-e", script]);
      expect(result.err).toBe("");
      const seen = JSON.parse(result.out) as { exec: string; files: string[] };
      expect(seen.exec).toBe("/usr/bin/node");
      // Every mapped file is one of the image's (the host's /work, /root, node_modules are not there).
      for (const file of seen.files) expect(file, file).toMatch(/^\/(usr\/(bin|lib)|lib|lib64)\//);
      expect(inImage(root, ["/bin/sh", "-c", `test -e ${REPO} || echo absent`]).out).toBe("absent\n");
    });

    describe("the unix and REST pairs from their images, through the local mesh", () => {
      let mesh: Mesh;
      beforeAll(async () => {
        const fast = ["--interval", "0.3"];
        const spec = (name: string, args: string[] = []) => ({ name, args, devices: DEVICES, chroot: { root: roots.get(name)!, command: [`/usr/bin/pv-example-${name}`] } });
        mesh = await startMesh({ containers: [spec("unix-server"), spec("unix-client", fast), spec("rest-server"), spec("rest-client", fast)], profile: "documented" });
      }, 120_000);
      afterAll(() => mesh?.close());

      it("unix: the server uses the device path in its own root, the client reads back exactly what it sent", async () => {
        await mesh.waitForOutput("unix-server", /echoing on \/run\/example\/raw\.sock$/, 20_000);
        const line = await mesh.waitForOutput("unix-client", /echo OK/, 30_000);
        expect(line).toMatch(/echo OK \(45 bytes\): Hello from client at \d{4}-\d\d-\d\dT/);
        expect(mesh.output("unix-client")).not.toMatch(/MISMATCH/);
      });

      it("rest: the client prints the provider's JSON with the identity the mesh gave it", async () => {
        await mesh.waitForOutput("rest-server", /serving GET \/info on \/run\/example\/api\.sock$/, 20_000);
        const line = await mesh.waitForOutput("rest-client", /GET \/info -> 200/, 30_000);
        expect(JSON.parse(line.slice(line.indexOf("{")))).toEqual({ service: "rest-example", status: "active", role: "any", client: "rest-client" });
      });

      it("SIGTERM reaches the program inside its image: it exits 0", async () => {
        expect(await mesh.stop("unix-client")).toEqual({ code: 0, signal: null });
      });
    });
  });
});

describe("the image cache's digest", () => {
  afterAll(cleanUp);

  it("changes with a file's content, mode, a link's target or a new file; not with the staging folder's name", () => {
    const make = (): string => {
      const root = scratchDir("pv-digest-");
      mkdirSync(join(root, "usr/bin"), { recursive: true });
      writeFileSync(join(root, "usr/bin/main.js"), "console.log(1)\n");
      symlinkSync("/usr/bin/main.js", join(root, "usr/bin/pv-example-x"));
      return root;
    };
    const a = make();
    const b = make();
    const base = treeDigest(a);
    expect(treeDigest(b)).toBe(base);
    const stat = statSync(join(b, "usr/bin/main.js"));
    writeFileSync(join(b, "usr/bin/main.js"), "console.log(2)\n"); // same size
    utimesSync(join(b, "usr/bin/main.js"), stat.atime, stat.mtime); // same mtime
    expect(treeDigest(b)).not.toBe(base);
    const c = make();
    chmodSync(join(c, "usr/bin/main.js"), 0o755);
    expect(treeDigest(c)).not.toBe(base);
    const d = make();
    rmSync(join(d, "usr/bin/pv-example-x"));
    symlinkSync("/usr/bin/other.js", join(d, "usr/bin/pv-example-x"));
    expect(treeDigest(d)).not.toBe(base);
    const e = make();
    writeFileSync(join(e, "usr/bin/extra"), "");
    expect(treeDigest(e)).not.toBe(base);
  });
});

describe("npm run pack --sign KEY --cert CERT", () => {
  afterAll(cleanUp);

  it.skipIf(skipUnless(onPath("openssl"), "signed exports", "needs openssl to make a test CA (node:crypto cannot issue certificates)"))(
    "signs like the recipes' pvr sig, and inspect verifies the signature and the x5c chain",
    () => {
      const dir = scratchDir("pv-pack-sig-");
      const ssl = (...args: string[]): void => {
        const result = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
        if (result.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${result.stderr}`);
      };
      ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=test CA", "-days", "2");
      ssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "key.pem", "-out", "signer.csr", "-subj", "/CN=test signer");
      ssl("x509", "-req", "-in", "signer.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "cert.pem", "-days", "2");
      const out = join(dir, "out");
      mkdirSync(out);
      const packed = run(process.execPath, [PACK, "unix-server", "device-config", "--out", out, "--sign", join(dir, "key.pem"), "--cert", join(dir, "cert.pem")]);
      expect(packed.err).toBe("");
      expect(packed.code).toBe(0);

      const server = run(process.execPath, [INSPECT, exportFile(out, "unix-server"), "--ca", join(dir, "ca.pem")], 60_000);
      expect(server.out).toContain("signature _sigs/pv-example-unix-server.json");
      expect(server.out).toMatch(/alg: ES256 {2}typ: PVS {2}key: x5c \(CN=test signer\)/);
      expect(server.out).toContain("include: pv-example-unix-server/**");
      expect(server.out).toContain("exclude: pv-example-unix-server/src.json");
      // run.json, lxc.container.conf, root.squashfs, services.json: all but src.json.
      expect(server.out).toContain("verify OK: _sigs/pv-example-unix-server.json: valid ES256 signature over 4 entries, signer chains to the CA");
      expect(server.code).toBe(0);

      const device = run(process.execPath, [INSPECT, exportFile(out, "device-config"), "--ca", join(dir, "ca.pem")], 60_000);
      expect(device.out).toContain("include: device.json");
      expect(device.out).toContain("verify OK: _sigs/device-config.json: valid ES256 signature over 1 entries, signer chains to the CA");
      expect(device.code).toBe(0);

      const mismatched = run(process.execPath, [PACK, "device-config", "--out", out, "--sign", join(dir, "ca.key"), "--cert", join(dir, "cert.pem")]);
      expect(mismatched.code).toBe(1);
      expect(mismatched.err).toMatch(/FAILED: .*the first certificate is not the signing key's\n$/);
    },
  );

  it("refuses --sign without --cert, and an unknown container, in one line", () => {
    const alone = run(process.execPath, [PACK, "unix-server", "--sign", "key.pem"], 30_000);
    expect(alone.code).toBe(2);
    expect(alone.err).toBe("pack: --sign and --cert go together\ntry --help\n");
    const unknown = run(process.execPath, [PACK, "no-such-thing"], 30_000);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/^pack: no container "no-such-thing" \(one of: .*unix-server.*\)\ntry --help\n$/);
  });
});
