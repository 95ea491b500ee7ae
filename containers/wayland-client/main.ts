// wayland-client: the consumer side of the Wayland pattern, a window drawn from shared memory.
//
// Requires service `wayland-0` (args.json), which pv-xconnect injects at /run/wayland/wayland-0.
// Waits for that socket, lists the compositor's globals, binds wl_compositor, wl_shm and
// xdg_wm_base, opens an xdg_toplevel and animates a pattern (pattern.ts: red, green, blue and yellow
// quadrants; a white bar sweeping across a black band), one frame per compositor frame callback,
// then prints frame statistics and disconnects.
// Under pv-xconnect master the mesh passes bytes but not file descriptors: the globals still list,
// but the shared-memory pool never reaches the compositor. The client says so in one line and
// exits with code 3.
//
// Run:  node dist/wayland-client/main.js [--socket PATH] [--frames N] [--wait SECONDS]
//       [--width W --height H] [--report N]     (PV_ROOT=DIR moves the default path; --help)
// Exit: 0 after N frames, on SIGTERM/Ctrl-C or when the compositor closes the window;
//       1 on a failure (no socket, compositor gone, protocol error); 3 when fds were not passed.
//
// Simplified: wl_shm only (no GPU buffers), no input, no decorations, one window.
import { WaylandDisplay, WaylandError, WL_SHM_FORMAT_XRGB8888, type Requests } from "../../native/wayland";
import { parseCommandLine, positiveInteger } from "../../shared/cli";
import { log, reason } from "../../shared/log";
import { devicePath, ROOT_ENV } from "../../shared/paths";
import { FatalError, runMain } from "../../shared/run";
import { sleep, stopSignal } from "../../shared/shutdown";
import { WAIT_OPTION, waitForPath, waitSeconds } from "../../shared/wait";
import { drawPattern } from "./pattern";

const SOCKET_PATH = "/run/wayland/wayland-0";
const WIDTH = 320;
const HEIGHT = 240;
const REPORT_EVERY = 300;
const EXIT_NO_FD_PASSING = 3;
const POOL_CHECK_MS = 5000;
// The versions this client is written against; it binds min(this, what the compositor offers).
const VERSIONS = { wl_compositor: 4, wl_shm: 1, xdg_wm_base: 2 } as const;

interface ShmBuffer {
  id: number;
  pixels: Uint32Array;
  busy: boolean;
}

/** Two buffers in one memfd pool (double buffering): one shown by the compositor, one to draw in. */
function createBuffers(wl: Requests, width: number, height: number): { buffers: ShmBuffer[]; destroy(): void } {
  const stride = width * 4;
  const pool = wl.createPool(stride * height * 2);
  const buffers = [0, 1].map((i) => ({
    id: wl.createBuffer(pool.id, i * stride * height, width, height, stride, WL_SHM_FORMAT_XRGB8888),
    pixels: new Uint32Array(pool.memory, i * stride * height, width * height),
    busy: false,
  }));
  return {
    buffers,
    destroy() {
      for (const buffer of buffers) wl.destroyBuffer(buffer.id);
      wl.destroyPool(pool.id);
    },
  };
}

/**
 * Why a roundtrip right after the first pool: creating it is the first request that carries a file
 * descriptor. A mesh that drops fds makes the compositor reject it and drop us right now; wait for
 * that verdict to name it, instead of reporting a bare disconnect mid-animation. A byte proxy may
 * also swallow the verdict and hold the socket open (pv-xconnect master lingers 60 s): a
 * compositor that does not answer within POOL_CHECK_MS counts as the same.
 */
async function checkFdPassing(display: WaylandDisplay): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const silence = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from the compositor within ${POOL_CHECK_MS / 1000} s`)), POOL_CHECK_MS);
  });
  try {
    await Promise.race([display.roundtrip(), silence]);
  } catch (error) {
    const about = error instanceof WaylandError ? `${error.event.interface ?? ""} ${error.event.message ?? ""}` : "";
    const fdLost = !(error instanceof WaylandError) || error.disconnected || /wl_shm\b/.test(about);
    if (!fdLost) throw error;
    throw new FatalError(`buffers could not be shared: the mesh did not pass the file descriptor of the shared-memory pool (${(error as Error).message})`, EXIT_NO_FD_PASSING);
  } finally {
    clearTimeout(timer);
  }
}

export interface AnimateOptions {
  frames: number;
  width: number;
  height: number;
  report: number;
  signal: AbortSignal;
}

/** Opens the window and draws until `frames` frames, a stop signal or a close; resolves with why it ended. */
export async function animate(display: WaylandDisplay, options: AnimateOptions): Promise<{ frames: number; callbacks: number; why: string }> {
  const wl = display.requests;
  let width = options.width;
  let height = options.height;
  let shm: ReturnType<typeof createBuffers> | null = null;
  let frames = 0;
  let callbacks = 0;
  let finish: (why: string) => void = () => {};
  const finished = new Promise<string>((resolve) => (finish = resolve));
  let firstConfigure: () => void = () => {};
  const configured = new Promise<void>((resolve) => (firstConfigure = resolve));
  const onAbort = (): void => finish(`${String(options.signal.reason)} received`);
  options.signal.addEventListener("abort", onAbort, { once: true });

  // A frame callback that finds both buffers still with the compositor leaves the frame owed:
  // the next "release" draws it, so the animation never stalls.
  let frameOwed = false;
  const draw = (): void => {
    const buffer = shm?.buffers.find((candidate) => !candidate.busy);
    frameOwed = buffer === undefined;
    if (buffer === undefined) return;
    drawPattern(buffer.pixels, width, height, frames);
    wl.attach(buffer.id);
    wl.damage(0, 0, width, height);
    wl.frame(); // ask to be told when to draw the next one, before the commit that shows this one
    wl.commit();
    buffer.busy = true;
    frames++;
    if (frames % options.report === 0) log(`frame ${frames}`);
  };

  display.onEvent((event) => {
    switch (event.type) {
      case "ping": // answering is how the compositor knows this client is not hung
        return wl.pong(event.serial);
      case "configure": {
        wl.ackConfigure(event.serial);
        // 0 x 0 leaves the size to us; another size needs new buffers (drawn from the next frame on).
        const [w, h] = event.width > 0 && event.height > 0 ? [event.width, event.height] : [width, height];
        if (shm !== null && (w !== width || h !== height)) {
          shm.destroy();
          shm = createBuffers(wl, w, h);
        }
        [width, height] = [w, h];
        return firstConfigure();
      }
      case "frame":
        callbacks++;
        return frames >= options.frames ? finish("frame count reached") : draw();
      case "release":
        for (const buffer of shm?.buffers ?? []) if (buffer.id === event.buffer) buffer.busy = false;
        return frameOwed && frames < options.frames ? draw() : undefined;
      case "close":
        return finish("window closed by the compositor");
    }
  });

  // The initial commit has no buffer: the compositor answers with the first configure, and a
  // buffer may only be attached after acknowledging it.
  wl.createWindow("pv-examples wayland-client", "pv-example-wayland-client");
  try {
    await Promise.race([configured, display.failed, finished]);
    if (!options.signal.aborted) {
      shm = createBuffers(wl, width, height);
      await checkFdPassing(display);
      log(`window ${width}x${height} configured, drawing ${Number.isFinite(options.frames) ? `${options.frames} frames` : "until stopped"}`);
      draw();
    }
    const why = await Promise.race([finished, display.failed]);
    return { frames, callbacks, why };
  } finally {
    options.signal.removeEventListener("abort", onAbort);
    wl.destroyWindow();
    shm?.destroy();
  }
}

/**
 * Connects and waits for the registry's globals (they arrive before the reply to the first sync).
 * The socket can be there before the compositor answers: pv-xconnect injects its proxy at once and
 * closes each connection it cannot forward yet. That is retried like a missing socket, until `deadline`.
 */
async function connectWhenReady(socket: string, deadline: number, signal: AbortSignal): Promise<WaylandDisplay | null> {
  while (!signal.aborted) {
    let display: WaylandDisplay | null = null;
    try {
      display = new WaylandDisplay(socket);
      await display.roundtrip();
      return display;
    } catch (error) {
      display?.disconnect();
      const notReady = error instanceof WaylandError ? error.disconnected : reason(error) === "ECONNREFUSED";
      if (!notReady) throw error instanceof WaylandError ? new FatalError(error.message) : error;
      if (Date.now() >= deadline) throw new FatalError(`the compositor at ${socket} did not answer in time (--wait): ${(error as Error).message}`);
      log(`compositor at ${socket} not answering yet (${(error as Error).message}), retrying in 1 s`);
      await sleep(1000, signal);
    }
  }
  return null;
}

async function main(): Promise<number> {
  const { values } = parseCommandLine({
    name: "wayland-client",
    summary: "Consumer of the Wayland pattern: on the compositor socket pv-xconnect injects (service wayland-0), lists the globals and draws an animated window from shared memory.",
    options: {
      socket: { type: "string", value: "PATH", default: devicePath(SOCKET_PATH), help: "the injected Wayland socket" },
      frames: { type: "string", value: "N", help: "exit 0 after N frames (default: draw until SIGTERM)" },
      width: { type: "string", value: "PIXELS", default: String(WIDTH), help: "window width, unless the compositor decides" },
      height: { type: "string", value: "PIXELS", default: String(HEIGHT), help: "window height, unless the compositor decides" },
      report: { type: "string", value: "N", default: String(REPORT_EVERY), help: "print a line every N frames" },
      wait: WAIT_OPTION,
    },
    env: ROOT_ENV,
    notes: ["Exit codes: 0 done or stopped; 1 a failure (no socket, compositor gone, protocol error); 3 the mesh did not pass file descriptors (pv-xconnect master)."],
    examples: ["wayland-client --socket /tmp/wl/wayland-0 --frames 120"],
  });
  const socket = values.socket;
  const frames = values.frames === undefined ? Infinity : positiveInteger("frames", values.frames);
  const width = positiveInteger("width", values.width);
  const height = positiveInteger("height", values.height);
  const report = positiveInteger("report", values.report);
  const wait = waitSeconds(values.wait);
  log(`wayland-client: socket ${socket}, ${Number.isFinite(frames) ? `${frames} frames` : "until stopped"}, ${width}x${height} unless the compositor decides`);

  const signal = stopSignal();
  const deadline = Date.now() + wait * 1000;
  if (!(await waitForPath(socket, { waitSeconds: wait, what: "Wayland socket", signal }))) {
    if (signal.aborted) return 0;
    throw new FatalError(`no Wayland socket at ${socket} within ${wait} s (--wait)`);
  }
  log(`SUCCESS: Found Wayland socket at ${socket}`);

  const display = await connectWhenReady(socket, deadline, signal);
  if (display === null) return 0; // stopped while waiting
  try {
    log(`compositor globals (${display.globals.length}):`);
    for (const global of display.globals) log(`  interface: '${global.interface}', version: ${global.version}, name: ${global.name}`);
    for (const [iface, version] of Object.entries(VERSIONS) as [keyof typeof VERSIONS, number][]) {
      const global = display.find(iface);
      if (global === null) throw new FatalError(`the compositor does not offer ${iface}`);
      display.requests.bind(global.name, iface, Math.min(version, global.version));
    }
    await display.roundtrip(); // wl_shm announces its pixel formats right after the bind
    if (!display.formats.has(WL_SHM_FORMAT_XRGB8888)) throw new FatalError("the compositor does not support wl_shm XRGB8888");

    const started = Date.now();
    const result = await animate(display, { frames, width, height, report, signal });
    const seconds = (Date.now() - started) / 1000;
    log(`stopped (${result.why}): ${result.frames} frames drawn, ${result.callbacks} frame callbacks in ${seconds.toFixed(1)} s (${(result.callbacks / seconds).toFixed(1)} fps)`);
  } catch (error) {
    if (error instanceof WaylandError) throw new FatalError(error.message);
    throw error;
  } finally {
    display.disconnect();
  }
  log("disconnected");
  return 0;
}

if (require.main === module) runMain(main);
