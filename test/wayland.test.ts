// The Wayland pair against a real Weston: the wayland-server launcher runs Weston headless (pixman
// renderer, --debug for the screenshooter) and wayland-client reaches it through the wayland
// injector (mesh/types/wayland.ts) under each profile, at its default path inside its own root.
// Screenshots are taken with weston-screenshooter and their pixels checked in the window's area.
import { execFile } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { promisify } from "node:util";
import { inflateSync } from "node:zlib";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { QUADRANTS } from "../containers/wayland-client/pattern";
import { onPath, type ChildProgram } from "../mesh/process";
import type { Injection, Link, Profile } from "../mesh/types/link";
import { injectWayland } from "../mesh/types/wayland";
import { WaylandDisplay, WaylandError, type Addon } from "../native/wayland";
import { bundle, cleanUp, run, scratchDir } from "./support/bundles";
import { rssMb } from "./support/figures";
import { skipUnless } from "./support/skips";

const SOCKET = "/run/wayland/wayland-0";
const HEADLESS = ["--backend", "headless", "--", "--debug", "--width=640", "--height=480"];
const NO_STACK = /\n\s+at /;

function missingTools(): string | null {
  for (const tool of ["weston", "weston-screenshooter"]) {
    if (!onPath(tool)) return `${tool} is not installed (apt-get install weston)`;
  }
  return null;
}
const MISSING = missingTools();

// --- a small PNG reader (8-bit RGB/RGBA, not interlaced: what weston-screenshooter writes) -------
interface Image {
  width: number;
  height: number;
  /** 0xRRGGBB at (x, y). */
  rgb(x: number, y: number): number;
}

function readPng(file: string): Image {
  const data = readFileSync(file);
  let width = 0, height = 0, channels = 0;
  const idat: Buffer[] = [];
  for (let at = 8; at < data.length; ) {
    const length = data.readUInt32BE(at);
    const type = data.toString("latin1", at + 4, at + 8);
    const body = data.subarray(at + 8, at + 8 + length);
    if (type === "IHDR") {
      [width, height] = [body.readUInt32BE(0), body.readUInt32BE(4)];
      const [depth, colour, interlace] = [body[8], body[9], body[12]];
      if (depth !== 8 || (colour !== 2 && colour !== 6) || interlace !== 0) throw new Error(`unsupported PNG ${depth}/${colour}/${interlace}`);
      channels = colour === 2 ? 3 : 4;
    }
    if (type === "IDAT") idat.push(body);
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    for (let i = 0; i < stride; i++) {
      const x = raw[y * (stride + 1) + 1 + i];
      const a = i >= channels ? pixels[y * stride + i - channels] : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + i] : 0;
      const c = i >= channels && y > 0 ? pixels[(y - 1) * stride + i - channels] : 0;
      const p = a + b - c;
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      const predictor = [0, a, b, (a + b) >> 1, paeth][filter];
      pixels[y * stride + i] = (x + predictor) & 0xff;
    }
  }
  return {
    width,
    height,
    rgb: (x, y) => pixels.readUIntBE(y * stride + x * channels, 3),
  };
}

async function screenshot(socket: string, dir: string): Promise<Image> {
  const shots = mkdtempSync(join(dir, "shot-"));
  await promisify(execFile)("weston-screenshooter", [], {
    cwd: shots,
    env: { ...process.env, WAYLAND_DISPLAY: socket, XDG_RUNTIME_DIR: join(socket, "..") },
    timeout: 10_000,
  });
  const png = readdirSync(shots).find((name) => name.endsWith(".png"));
  if (png === undefined) throw new Error("weston-screenshooter wrote no PNG");
  return readPng(join(shots, png));
}

/** The bounding box of the pixels of one exact colour, or null when there is none. */
function boxOf(image: Image, rgb: number): { x: number; y: number; width: number; height: number } | null {
  let [minX, minY, maxX, maxY] = [Infinity, Infinity, -1, -1];
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      if (image.rgb(x, y) !== rgb) continue;
      [minX, minY, maxX, maxY] = [Math.min(minX, x), Math.min(minY, y), Math.max(maxX, x), Math.max(maxY, y)];
    }
  }
  return maxX < 0 ? null : { x: minX, y: minY, width: maxX - minX + 1, height: maxY - minY + 1 };
}

/** Colours found in a rectangle, with how many pixels of each. */
function coloursIn(image: Image, x0: number, y0: number, width: number, height: number): Map<number, number> {
  const counts = new Map<number, number>();
  for (let y = y0; y < y0 + height; y++) {
    for (let x = x0; x < x0 + width; x++) counts.set(image.rgb(x, y), (counts.get(image.rgb(x, y)) ?? 0) + 1);
  }
  return counts;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// --- fixtures -------------------------------------------------------------------------------------

/** A launcher running headless Weston with PV_ROOT=root; resolves once Weston serves its socket. */
async function startCompositor(root: string): Promise<{ server: ChildProgram; socket: string; westonPid: number }> {
  const server = run("wayland-server", { name: "wayland-server", env: { PV_ROOT: root }, args: HEADLESS, cwd: root });
  await server.waitForOutput(/Weston is serving/, 15_000);
  const westonPid = Number(/started weston \(pid (\d+)\)/.exec(server.output())![1]);
  return { server, socket: join(root, SOCKET), westonPid };
}

function linkInto(consumerRoot: string, providerRoot: string): Link {
  return {
    consumer: "wayland-client", provider: "wayland-server", name: "wayland-0", type: "wayland", role: "any",
    interface: "wayland", target: SOCKET, socket: SOCKET,
    targetPath: join(consumerRoot, SOCKET), socketPath: join(providerRoot, SOCKET), providerRoot,
  };
}

describe.skipIf(skipUnless(MISSING === null, "Wayland against a real headless Weston", MISSING ?? ""))("Wayland against a real headless Weston", () => {
  let providerRoot = "";
  let compositor: Awaited<ReturnType<typeof startCompositor>>;
  const injections: Injection[] = [];

  async function consumer(profile: Profile): Promise<string> {
    const root = scratchDir("pv-wayland-");
    injections.push(await injectWayland(linkInto(root, providerRoot), { profile, lingerMs: 1000, log: (line) => console.log(line) }));
    return root;
  }

  beforeAll(async () => {
    providerRoot = scratchDir("/tmp/pv-wl-"); // short: a unix socket path has at most 107 bytes
    compositor = await startCompositor(providerRoot);
  });

  afterEach(async () => {
    for (const injection of injections.splice(0)) await injection.close();
  });

  afterAll(async () => {
    await compositor?.server.stop("SIGTERM");
    await cleanUp();
  });

  it("documented: the consumer gets the compositor's socket, lists the globals and draws N frames on N frame callbacks", async () => {
    const root = await consumer("documented");
    expect(lstatSync(join(root, SOCKET)).isSymbolicLink()).toBe(true);
    const client = run("wayland-client", { env: { PV_ROOT: root }, args: ["--frames", "30"] });
    expect(await client.exited()).toEqual({ code: 0, signal: null });
    const output = client.output();
    expect(output).toContain(`SUCCESS: Found Wayland socket at ${join(root, SOCKET)}`);
    for (const iface of ["wl_compositor", "wl_shm", "xdg_wm_base"]) expect(output).toMatch(new RegExp(`interface: '${iface}', version: \\d+, name: \\d+`));
    expect(output).toMatch(/stopped \(frame count reached\): 30 frames drawn, 30 frame callbacks in/);
    expect(output).toMatch(/disconnected$/);
  });

  it("documented: a screenshot shows the pattern in the window; SIGTERM destroys it and exits 0 within 1 s", async () => {
    const root = await consumer("documented");
    const client = run("wayland-client", { env: { PV_ROOT: root }, args: ["--report", "10"] });
    await client.waitForOutput(/frame 20$/, 15_000);
    const image = await screenshot(compositor.socket, scratchDir("pv-wayland-"));

    // The red quadrant locates the window: it is its top-left corner, 160 x 105 for 320 x 240.
    const red = boxOf(image, QUADRANTS[0] & 0xffffff);
    expect(red).toMatchObject({ width: 160, height: 105 });
    const { x, y } = red!;
    expect(coloursIn(image, x + 160, y, 160, 105)).toEqual(new Map([[0x00ff00, 160 * 105]])); // green, top right
    expect(coloursIn(image, x, y + 135, 160, 105)).toEqual(new Map([[0x0000ff, 160 * 105]])); // blue, bottom left
    expect(coloursIn(image, x + 160, y + 135, 160, 105)).toEqual(new Map([[0xffff00, 160 * 105]])); // yellow, bottom right
    const band = coloursIn(image, x, y + 105, 320, 30); // black, with the white bar somewhere in it
    expect(band.get(0x000000)).toBeGreaterThan(0);
    expect([...band.keys()].every((rgb) => rgb === 0x000000 || rgb === 0xffffff)).toBe(true);

    expect(await client.stop("SIGTERM", 1000)).toEqual({ code: 0, signal: null });
    expect(client.output()).toMatch(/stopped \(SIGTERM received\): \d+ frames drawn/);
    expect(client.output()).toMatch(/disconnected$/);
    const after = await screenshot(compositor.socket, scratchDir("pv-wayland-"));
    expect(boxOf(after, QUADRANTS[0] & 0xffffff)).toBeNull(); // the window is gone
  });

  it("master: globals listed, then one line saying the mesh did not pass the fd, exit 3; Weston keeps running", async () => {
    const root = await consumer("master");
    expect(statSync(join(root, SOCKET)).mode & 0o777).toBe(0o666);
    const client = run("wayland-client", { env: { PV_ROOT: root }, args: ["--frames", "30"] });
    expect(await client.exited()).toEqual({ code: 3, signal: null });
    const output = client.output();
    for (const iface of ["wl_compositor", "wl_shm", "xdg_wm_base"]) expect(output).toContain(`interface: '${iface}'`);
    // The compositor's verdict reaches the client, or the proxy loses it on the compositor's close.
    expect(output).toMatch(
      /FAILED: buffers could not be shared: the mesh did not pass the file descriptor of the shared-memory pool \((the compositor rejected a request: invalid arguments for wl_shm@\d+\.create_pool|the compositor closed the connection \((EPIPE|ECONNRESET)\))\)$/,
    );
    expect(output).not.toMatch(NO_STACK);
    expect(output).not.toMatch(/frames drawn/);

    expect(compositor.server.running).toBe(true);
    expect(alive(compositor.westonPid)).toBe(true);
    const direct = run("wayland-client", { name: "direct", args: ["--socket", compositor.socket, "--frames", "5"] });
    expect(await direct.exited()).toEqual({ code: 0, signal: null });
  });

  it("binding: a protocol error names the interface, object, code and the compositor's message", async () => {
    // The addon that ships beside the bundle, passed in instead of the loader's default location.
    const addon = createRequire(__filename)(join(bundle("wayland-client"), "..", "wayland.node")) as Addon;
    const display = new WaylandDisplay(compositor.socket, addon);
    try {
      await display.roundtrip();
      for (const iface of ["wl_compositor", "wl_shm", "xdg_wm_base"] as const) display.requests.bind(display.find(iface)!.name, iface, 1);
      display.requests.createWindow("protocol error", "pv-test");
      const pool = display.requests.createPool(64 * 64 * 4);
      display.requests.attach(display.requests.createBuffer(pool.id, 0, 64, 64, 256, 1));
      display.requests.commit(); // a buffer before the first configure was acknowledged: not allowed
      const error = await display.roundtrip().then(() => null, (caught: unknown) => caught);
      expect(error).toBeInstanceOf(WaylandError);
      expect((error as WaylandError).event).toMatchObject({ errno: "EPROTO", interface: "xdg_surface", code: 3 });
      expect((error as WaylandError).message).toMatch(/^protocol error on xdg_surface@\d+ \(code 3\): xdg_surface has never been configured$/);
      await expect(display.failed).rejects.toBe(error);
    } finally {
      display.disconnect();
    }
    expect(() => new WaylandDisplay("/nonexistent/wayland-0", addon)).toThrow(/^cannot connect to \/nonexistent\/wayland-0: ENOENT$/);
  });

  it("1,000 frames without growing RSS by more than a few MB (no leaked buffers)", async () => {
    const root = await consumer("documented");
    const client = run("wayland-client", { env: { PV_ROOT: root }, args: ["--frames", "1100", "--report", "100"] });
    await client.waitForOutput(/frame 100$/, 20_000);
    const before = rssMb(client.pid);
    await client.waitForOutput(/frame 1100$/, 80_000);
    const after = rssMb(client.pid);
    expect(await client.exited()).toEqual({ code: 0, signal: null });
    expect(client.output()).toMatch(/1100 frames drawn, 1100 frame callbacks/);
    expect(after - before, `RSS ${before} MB at frame 100, ${after} MB at frame 1100`).toBeLessThan(8);
  }, 120_000);
});

describe.skipIf(skipUnless(MISSING === null, "wayland-client failures", MISSING ?? ""))("wayland-client failures", () => {
  afterEach(cleanUp);

  it("no socket: a waiting line, then a FAILED line after --wait and exit 1", async () => {
    const root = scratchDir("pv-wayland-");
    const client = run("wayland-client", { env: { PV_ROOT: root }, args: ["--wait", "1"] });
    expect(await client.exited()).toEqual({ code: 1, signal: null });
    expect(client.output()).toContain(`waiting up to 1 s for Wayland socket at ${join(root, SOCKET)}: not there yet`);
    expect(client.output()).toMatch(new RegExp(`FAILED: no Wayland socket at ${join(root, SOCKET)} within 1 s \\(--wait\\)$`));
    expect(client.output()).not.toMatch(NO_STACK);
  });

  it("a socket path nobody listens on: retried, then cannot connect, with the path and errno, exit 1", async () => {
    const root = scratchDir("pv-wayland-");
    mkdirSync(join(root, SOCKET, ".."), { recursive: true });
    writeFileSync(join(root, SOCKET), "");
    const client = run("wayland-client", { env: { PV_ROOT: root }, args: ["--wait", "1.5"] });
    expect(await client.exited()).toEqual({ code: 1, signal: null });
    expect(client.output()).toContain(`compositor at ${join(root, SOCKET)} not answering yet (cannot connect to ${join(root, SOCKET)}: ECONNREFUSED), retrying in 1 s`);
    expect(client.output()).toMatch(new RegExp(`FAILED: the compositor at ${join(root, SOCKET)} did not answer in time \\(--wait\\): cannot connect to ${join(root, SOCKET)}: ECONNREFUSED$`));
    expect(client.output()).not.toMatch(NO_STACK);
  });

  it("compositor killed mid-run: one clear line, non-zero exit, no hang", async () => {
    const root = scratchDir("/tmp/pv-wl-");
    const { server, socket, westonPid } = await startCompositor(root);
    const client = run("wayland-client", { args: ["--socket", socket, "--report", "10"] });
    await client.waitForOutput(/frame 10$/, 15_000);
    process.kill(westonPid, "SIGKILL");
    const exit = await client.exited();
    expect(exit.code).toBe(1);
    expect(client.output()).toMatch(/FAILED: the compositor closed the connection \((EPIPE|ECONNRESET)\)$/);
    expect(client.output()).not.toMatch(NO_STACK);
    expect(await server.exited()).toEqual({ code: 128 + 9, signal: null }); // the launcher reports how Weston ended
    expect(server.output()).toMatch(/Weston exited with status 137/);
  });
});

describe.skipIf(skipUnless(MISSING === null, "wayland-server launcher", MISSING ?? ""))("wayland-server launcher", () => {
  afterEach(cleanUp);

  it("runs Weston on a 0700 XDG_RUNTIME_DIR; SIGTERM stops Weston and exits 0 within 1 s", async () => {
    const root = scratchDir("/tmp/pv-wl-");
    const { server, socket, westonPid } = await startCompositor(root);
    expect(server.output()).toContain(`wayland-server: socket ${socket}, backend headless`);
    expect(statSync(join(socket, "..")).mode & 0o777).toBe(0o700);
    expect(lstatSync(socket).isSocket()).toBe(true);
    expect(await server.stop("SIGTERM", 1000)).toEqual({ code: 0, signal: null });
    expect(alive(westonPid)).toBe(false);
    expect(() => lstatSync(socket)).toThrow(/ENOENT/); // Weston removed its socket
  });

  it("Weston failing to start (bad backend): one clear line with Weston's reason, non-zero exit", async () => {
    const root = scratchDir("pv-wayland-");
    mkdirSync(join(root, "run"));
    const server = run("wayland-server", { env: { PV_ROOT: root }, args: ["--backend", "nosuch"] });
    const exit = await server.exited();
    expect(exit.code).not.toBe(0);
    expect(server.output()).toMatch(/FAILED: weston failed to start \(exited with status 1\): .*unknown backend "nosuch-backend\.so"/);
    expect(server.output()).not.toMatch(NO_STACK);
  });

  it("Weston not installed (not on PATH): one clear line, exit 127", async () => {
    const root = scratchDir("pv-wayland-");
    const server = run("wayland-server", { env: { PV_ROOT: root, PATH: join(root, "empty") }, args: ["--backend", "headless"] });
    expect(await server.exited()).toEqual({ code: 127, signal: null });
    expect(server.output()).toMatch(/FAILED: weston failed to start \(exited with status 127\): cannot run weston: ENOENT$/);
    expect(server.output()).not.toMatch(NO_STACK);
  });

  it("DRM backend (the default) waits for the drm-master node; SIGTERM while waiting exits 0", async () => {
    const root = scratchDir("pv-wayland-");
    // 30 s is the default wait; the test stops it after the waiting line instead.
    const server = run("wayland-server", { env: { PV_ROOT: root } });
    await server.waitForOutput(new RegExp(`waiting up to 30 s for DRM device at ${join(root, "/dev/dri/card0")}: not there yet`));
    expect(await server.stop("SIGTERM", 1000)).toEqual({ code: 0, signal: null });
  });
});
