// The DRM programs' policy (connector and mode choice, master rights, the release order) against a
// fake binding, and their waiting and argument handling through the built bundles.
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { chooseMode, COLOUR_BARS, parseModeRequest, start } from "../containers/drm-master/main";
import { start as startRender } from "../containers/drm-render/main";
import type { DrmBinding, DrmConnector, DrmMode } from "../native/libdrm/index";

const REPO = resolve(__dirname, "..");

function mode(width: number, height: number, refresh = 60, preferred = false): DrmMode {
  return { name: `${width}x${height}`, clock: 0, hdisplay: width, hsyncStart: 0, hsyncEnd: 0, htotal: 0, hskew: 0,
    vdisplay: height, vsyncStart: 0, vsyncEnd: 0, vtotal: 0, vscan: 0, vrefresh: refresh, flags: 0, type: preferred ? 1 << 3 : 0 };
}

function systemError(message: string, code: string): Error {
  return Object.assign(new Error(`${message}: ${code}`), { code });
}

/** A card with the given connectors (ids 10, 11, ...), one encoder (20) and one CRTC (30) showing fb 5. */
function fakeCard(connectors: Array<Pick<DrmConnector, "connection" | "modes">>, fail: Partial<Record<keyof DrmBinding, string>> = {}) {
  const calls: string[] = [];
  let shown = 5;
  const mapped = { pixels: new ArrayBuffer(0) };
  const call = (name: keyof DrmBinding, detail = ""): void => {
    calls.push(detail === "" ? name : `${name} ${detail}`);
    if (fail[name] !== undefined) throw systemError(`cannot ${name}`, fail[name]!);
  };
  const binding: DrmBinding = {
    open: (path) => (call("open", path), 7),
    close: () => call("close"),
    getVersion: () => (call("getVersion"), { name: "fake", major: 1, minor: 2, patchlevel: 3, date: "", description: "fake" }),
    getCap: () => (call("getCap"), 1),
    setMaster: () => call("setMaster"),
    dropMaster: () => call("dropMaster"),
    getResources: () => ({ framebuffers: [], crtcs: [30], connectors: connectors.map((_, i) => 10 + i), encoders: [20],
      minWidth: 0, maxWidth: 4096, minHeight: 0, maxHeight: 4096 }),
    getConnector: (_fd, id) => ({ id, type: 11, typeName: "HDMI-A", typeId: id - 9, encoderId: 0, encoders: [20],
      mmWidth: 0, mmHeight: 0, ...connectors[id - 10] }),
    getEncoder: () => ({ id: 20, type: 2, crtcId: 0, possibleCrtcs: 1 }),
    getCrtc: (_fd, id) => ({ id, fbId: shown, x: 0, y: 0, mode: mode(640, 480) }),
    setCrtc: (_fd, crtc, fb, _x, _y, conns, m) => {
      call("setCrtc", `${crtc} fb ${fb} connectors ${conns.join(",")} ${m === null ? "off" : `${m.hdisplay}x${m.vdisplay}`}`);
      shown = fb;
    },
    createDumb: (_fd, w, h, bpp) => (call("createDumb", `${w}x${h}x${bpp}`), { handle: 3, pitch: w * 4, size: w * 4 * h }),
    mapDumb: (_fd, _handle, size) => (call("mapDumb"), (mapped.pixels = new ArrayBuffer(size))),
    unmapDumb: () => call("unmapDumb"),
    destroyDumb: () => call("destroyDumb"),
    addFb: () => (call("addFb"), 42),
    rmFb: () => call("rmFb"),
  };
  return { binding, calls, mapped };
}

describe("mode choice (kmscube's rule)", () => {
  const modes = [mode(800, 600), mode(1920, 1080, 30), mode(1280, 720, 60, true), mode(1920, 1080, 60)];

  test("a requested mode wins, with or without a refresh rate", () => {
    expect(chooseMode(modes, parseModeRequest("800x600"))).toEqual({ mode: modes[0], why: "requested" });
    expect(chooseMode(modes, parseModeRequest("1920x1080@60"))).toEqual({ mode: modes[3], why: "requested" });
  });

  test("else the preferred mode, else the largest", () => {
    expect(chooseMode(modes)).toEqual({ mode: modes[2], why: "preferred" });
    expect(chooseMode([mode(800, 600), mode(1024, 768), mode(640, 480)])).toEqual({ mode: mode(1024, 768), why: "largest" });
  });

  test("a request that is malformed or not offered is one clear error", () => {
    expect(() => parseModeRequest("big")).toThrow('--mode must look like 1024x768 or 1024x768@60, got "big"');
    expect(() => chooseMode(modes, parseModeRequest("640x480"))).toThrow("mode 640x480 is not offered (offered: 800x600@60, 1920x1080@30, 1280x720@60, 1920x1080@60)");
  });
});

describe("drm-master's modeset with a fake card", () => {
  test("uses the first connected connector, paints the bars, and releases in reverse order", async () => {
    const card = fakeCard([{ connection: 2, modes: [mode(1024, 768)] }, { connection: 1, modes: [mode(64, 16, 60, true)] }]);
    const modeset = await start({ device: "/dev/dri/card0" }, card.binding);
    expect([modeset.connector.id, modeset.crtcId, modeset.fbId]).toEqual([11, 30, 42]);
    const row = new Uint32Array(card.mapped.pixels, 0, 64);
    expect([...COLOUR_BARS.keys()].map((i) => row[i * 8 + 4])).toEqual(COLOUR_BARS);
    expect(card.calls.at(-1)).toBe("setCrtc 30 fb 42 connectors 11 64x16");
    card.calls.length = 0;
    modeset.close();
    expect(card.calls).toEqual(["setCrtc 30 fb 5 connectors 11 640x480", "unmapDumb", "rmFb", "destroyDumb", "dropMaster", "close"]);
    modeset.close(); // a second close releases nothing twice
    expect(card.calls).toHaveLength(6);
  });

  test("no connected connector: says which connectors it saw, releases what it took", async () => {
    const card = fakeCard([{ connection: 2, modes: [mode(1024, 768)] }, { connection: 1, modes: [] }]);
    await expect(start({ device: "/dev/dri/card0" }, card.binding)).rejects.toThrow(
      "no connected connector with modes (10 (HDMI-A-1): not connected; 11 (HDMI-A-2): no modes)");
    expect(card.calls.slice(-2)).toEqual(["dropMaster", "close"]);
  });

  test("no master rights (EACCES): says exactly that, closes the card, never drops what it lacks", async () => {
    const card = fakeCard([{ connection: 1, modes: [mode(1024, 768)] }], { setMaster: "EACCES" });
    await expect(start({ device: "/dev/dri/card0" }, card.binding)).rejects.toThrow(
      "no DRM master rights on /dev/dri/card0 (EACCES): this process lacks the rights (CAP_SYS_ADMIN)");
    expect(card.calls).toEqual(["open /dev/dri/card0", "getVersion", "setMaster", "close"]);
  });

  test("a modeset the kernel refuses releases everything without touching the saved CRTC", async () => {
    const card = fakeCard([{ connection: 1, modes: [mode(1024, 768)] }], { setCrtc: "EINVAL" });
    await expect(start({ device: "/dev/dri/card0" }, card.binding)).rejects.toThrow("cannot setCrtc: EINVAL");
    expect(card.calls.slice(-6)).toEqual(["setCrtc 30 fb 42 connectors 10 1024x768", "unmapDumb", "rmFb", "destroyDumb", "dropMaster", "close"]);
  });

  test("drm-render closes the node when its driver cannot be asked", async () => {
    const card = fakeCard([], { getVersion: "ENOTTY" });
    await expect(startRender("/dev/null", card.binding)).rejects.toThrow("cannot getVersion: ENOTTY");
    expect(card.calls).toEqual(["open /dev/null", "getVersion", "close"]);
  });
});

describe("the bundles wait, then fail clearly", () => {
  let dir = "";
  afterEach(() => dir !== "" && rmSync(dir, { recursive: true, force: true }));

  function runBundle(program: string, args: string[]): { code: number | null; out: string; err: string } {
    const result = spawnSync(process.execPath, [join(REPO, "dist", program, "main.js"), ...args], { encoding: "utf8", timeout: 20_000 });
    return { code: result.status, out: result.stdout, err: result.stderr };
  }

  test("drm-master without its node: a waiting line, then one FAILED line after --wait, exit 1", () => {
    dir = mkdtempSync(join(tmpdir(), "pv-drm-"));
    const { code, out, err } = runBundle("drm-master", ["--device", join(dir, "card0"), "--wait", "0.3"]);
    expect(out.match(/waiting up to 0.3 s for DRM device at .*card0: not there yet/g)).toHaveLength(1);
    expect(err.trim().split("\n")).toEqual([expect.stringMatching(/FAILED: DRM device .*card0 did not appear within 0.3 s \(--wait\)$/)]);
    expect(code).toBe(1);
  });

  test("drm-render goes on as soon as its node appears during the wait", async () => {
    dir = mkdtempSync(join(tmpdir(), "pv-drm-"));
    const node = join(dir, "renderD128");
    const child = spawn(process.execPath, [join(REPO, "dist", "drm-render", "main.js"), "--device", node, "--wait", "20"]);
    const started = Date.now();
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      // Not a DRM device, so the driver question fails: what matters is that the wait ended.
      if (out.includes("waiting up to 20 s")) setTimeout(() => writeFileSync(node, ""), 300);
    });
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    const [code] = (await once(child, "close")) as [number | null];
    expect(out).toMatch(/waiting up to 20 s for DRM render node at .*renderD128: not there yet/);
    expect(out).not.toMatch(/still waiting/);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(err.trim().split("\n")).toEqual([expect.stringMatching(/FAILED: cannot get driver version: ENOTTY \(check: .+\)$/)]);
    expect(code).toBe(1);
  });

  test("a bad --mode, --hold or --wait is a usage error (exit 2), before any waiting", () => {
    for (const args of [["--mode", "huge"], ["--hold=-1"], ["--wait", "0"]]) {
      const { code, out, err } = runBundle("drm-master", ["--device", "/nonexistent/card0", ...args]);
      expect(out).not.toMatch(/waiting/);
      expect(err.trim().split("\n")).toEqual([expect.stringMatching(/^drm-master: --(mode|hold|wait) /), "try --help"]);
      expect(code).toBe(2);
    }
  });
});
