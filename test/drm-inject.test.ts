// The mesh stand-in's `drm` injector: the provider's device node copied into the consumer's root
// with mknod, as pv-xconnect does. Needs root (CAP_MKNOD); without it the test is skipped.
import { execFileSync, spawnSync } from "node:child_process";
import { chownSync, chmodSync, existsSync, lstatSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import { afterEach, describe, expect, test } from "vitest";
import { injectDrm, majorMinor } from "../mesh/types/drm";
import type { Link, MeshOptions } from "../mesh/types/link";
import { skipUnless } from "./support/skips";

const IS_ROOT = process.getuid?.() === 0;
const NOT_ROOT = "device injection needs root (CAP_MKNOD); run the tests as root to cover it";

function link(dir: string): Link {
  return { consumer: "drm-master", provider: "drm-provider", name: "drm-master", type: "drm", role: "any", interface: "drm",
    target: "/dev/dri/card0", socket: "/dev/dri/card0", providerRoot: join(dir, "provider"),
    socketPath: join(dir, "provider", "dev", "dri", "card0"), targetPath: join(dir, "consumer", "dev", "dri", "card0") };
}

describe("drm injection", () => {
  let dir = "";
  const lines: string[] = [];
  const options: MeshOptions = { profile: "documented", lingerMs: 0, log: (line) => lines.push(line) };
  afterEach(() => dir !== "" && rmSync(dir, { recursive: true, force: true }));

  test("a fake char device keeps its type, major:minor, mode and owner at the consumer's target", async (context) => {
    if (skipUnless(IS_ROOT, "drm injection", NOT_ROOT)) return context.skip(NOT_ROOT);
    dir = mkdtempSync(join(tmpdir(), "pv-drm-inject-"));
    const l = link(dir);
    execFileSync("mkdir", ["-p", join(dir, "provider", "dev", "dri")]);
    execFileSync("mknod", [l.socketPath, "c", "226", "0"]);
    chmodSync(l.socketPath, 0o660);
    chownSync(l.socketPath, 0, 44);
    const injection = await injectDrm(l, options);
    const copy = lstatSync(l.targetPath);
    expect(copy.isCharacterDevice()).toBe(true);
    expect(majorMinor(copy.rdev)).toEqual([226, 0]);
    expect(copy.mode & 0o7777).toBe(0o660);
    expect([copy.uid, copy.gid]).toEqual([0, 44]);
    expect(lstatSync(join(dir, "consumer", "dev", "dri")).mode & 0o777).toBe(0o755);
    expect(lines).toContain("drm-master: drm-master: device 226:0 injected at /dev/dri/card0");
    await injection.close();
    expect(existsSync(l.targetPath)).toBe(false);
  });

  test("a provider node that is missing or not a device is refused with the reason", async (context) => {
    if (skipUnless(IS_ROOT, "drm injection", NOT_ROOT)) return context.skip(NOT_ROOT);
    dir = mkdtempSync(join(tmpdir(), "pv-drm-inject-"));
    await expect(injectDrm(link(dir), options)).rejects.toThrow(/cannot inject .*provider\/dev\/dri\/card0: ENOENT/);
    execFileSync("mkdir", ["-p", join(dir, "provider", "dev", "dri")]);
    execFileSync("touch", [link(dir).socketPath]);
    await expect(injectDrm(link(dir), options)).rejects.toThrow(/: not a device node$/);
  });

  test("without root, injection fails with one clear reason", async (context) => {
    // As root, run the injector in a child that has dropped to nobody; otherwise run it here.
    dir = mkdtempSync(join(tmpdir(), "pv-drm-inject-"));
    chmodSync(dir, 0o755);
    const bundle = join(dir, "drm.js");
    await build({ entryPoints: [resolve(__dirname, "..", "mesh", "types", "drm.ts")], outfile: bundle, bundle: true, platform: "node", format: "cjs", logLevel: "warning" });
    const script = `require(${JSON.stringify(bundle)}).copyDeviceNode("/dev/null", ${JSON.stringify(join(dir, "null"))})`;
    const result = spawnSync(process.execPath, ["-e", `try { ${script} } catch (e) { console.log(e.message) }`],
      { encoding: "utf8", ...(IS_ROOT ? { uid: 65534, gid: 65534 } : {}) });
    if (skipUnless(!result.error, "drm injection as nobody", `cannot run a child as nobody: ${result.error?.message}`)) return context.skip(`cannot run a child as nobody: ${result.error?.message}`);
    expect(result.stdout.trim()).toBe(`device injection needs root (CAP_MKNOD): cannot create ${join(dir, "null")} as a copy of /dev/null`);
  });
});
