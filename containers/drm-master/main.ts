// drm-master: a consumer that uses the injected KMS node for a real modeset.
//
// Requires service `drm-master` (args.json), which pv-xconnect injects as a copy of the provider's
// device node at /dev/dri/card0. It waits for the node, becomes DRM master, picks a connected
// connector and a mode (--mode, else the connector's preferred, else the largest: kmscube's rule),
// saves the CRTC, shows colour bars from a dumb buffer, reads the CRTC back, holds the picture for
// --hold seconds (0: until SIGTERM), then restores the saved CRTC and releases everything in
// reverse order (the drm-howto modeset.c order).
//
// Run:  node dist/drm-master/main.js [--device PATH] [--mode WxH[@HZ]] [--hold SECONDS] [--wait SECONDS]
//       (PV_ROOT=DIR moves the default path; --wait: 30 s by default; --help)
// Stop: SIGTERM or Ctrl-C: restores the CRTC, releases, exits 0.
//
// Simplified: one connector, one CRTC, legacy (non-atomic) modeset, no page flips or vblank.
import { nonNegativeNumber, parseCommandLine, UsageError } from "../../shared/cli";
import { log, logError, reason } from "../../shared/log";
import { devicePath, ROOT_ENV } from "../../shared/paths";
import { FatalError, runMain } from "../../shared/run";
import { sleep, stopSignal, untilAborted } from "../../shared/shutdown";
import { WAIT_OPTION, waitForPath, waitSeconds } from "../../shared/wait";
import {
  drm, DRM_CAP_DUMB_BUFFER, DRM_MODE_CONNECTED, DRM_MODE_TYPE_PREFERRED,
  type DrmBinding, type DrmConnector, type DrmMode, type DrmResources,
} from "../../native/libdrm/index";

const DEVICE_PATH = "/dev/dri/card0";
const HOLD_SECONDS = 10;
/** XRGB8888: 32 bits per pixel, 24 of them colour. Every KMS driver scans this format out. */
const BPP = 32;
const DEPTH = 24;
/** The test pattern, left to right: full-intensity colour bars (0xRRGGBB). */
export const COLOUR_BARS = [0xffffff, 0xffff00, 0x00ffff, 0x00ff00, 0xff00ff, 0xff0000, 0x0000ff, 0x000000];

export const describeMode = (mode: DrmMode): string => `${mode.hdisplay}x${mode.vdisplay}@${mode.vrefresh}`;

export interface ModeRequest {
  width: number;
  height: number;
  refresh?: number;
  text: string;
}

/** Parses --mode: "1024x768" or "1024x768@60". */
export function parseModeRequest(text: string): ModeRequest {
  const match = /^(\d+)x(\d+)(?:@(\d+))?$/.exec(text);
  if (match === null) throw new UsageError(`--mode must look like 1024x768 or 1024x768@60, got "${text}"`);
  const request: ModeRequest = { width: Number(match[1]), height: Number(match[2]), text };
  if (match[3] !== undefined) request.refresh = Number(match[3]);
  return request;
}

/** kmscube's rule: the requested mode, else the connector's preferred one, else the largest. */
export function chooseMode(modes: DrmMode[], requested?: ModeRequest): { mode: DrmMode; why: string } {
  if (requested !== undefined) {
    const { width, height, refresh } = requested;
    const mode = modes.find((m) => m.hdisplay === width && m.vdisplay === height && (refresh === undefined || m.vrefresh === refresh));
    if (mode === undefined) throw new FatalError(`mode ${requested.text} is not offered (offered: ${modes.map(describeMode).join(", ")})`);
    return { mode, why: "requested" };
  }
  const preferred = modes.find((m) => (m.type & DRM_MODE_TYPE_PREFERRED) !== 0);
  if (preferred !== undefined) return { mode: preferred, why: "preferred" };
  const area = (m: DrmMode): number => m.hdisplay * m.vdisplay;
  return { mode: modes.reduce((best, m) => (area(m) > area(best) ? m : best)), why: "largest" };
}

/** The first connected connector that has modes; says which ones were looked at when none is. */
export function pickConnector(binding: DrmBinding, fd: number, resources: DrmResources): DrmConnector {
  const seen: string[] = [];
  for (const id of resources.connectors) {
    const connector = binding.getConnector(fd, id);
    const name = `${connector.typeName}-${connector.typeId}`;
    if (connector.connection === DRM_MODE_CONNECTED && connector.modes.length > 0) return connector;
    seen.push(`${id} (${name}): ${connector.connection === DRM_MODE_CONNECTED ? "no modes" : "not connected"}`);
  }
  throw new FatalError(`no connected connector with modes (${seen.length === 0 ? "the card has no connectors" : seen.join("; ")})`);
}

/** The CRTC already driving the connector, else the first one one of its encoders can drive. */
export function findCrtc(binding: DrmBinding, fd: number, resources: DrmResources, connector: DrmConnector): number {
  if (connector.encoderId !== 0) {
    const current = binding.getEncoder(fd, connector.encoderId);
    if (current.crtcId !== 0) return current.crtcId;
  }
  for (const encoderId of connector.encoders) {
    const encoder = binding.getEncoder(fd, encoderId);
    const index = resources.crtcs.findIndex((_, i) => (encoder.possibleCrtcs & (1 << i)) !== 0);
    if (index >= 0) return resources.crtcs[index];
  }
  throw new FatalError(`no CRTC can drive connector ${connector.id}`);
}

/** Paints COLOUR_BARS into an XRGB8888 buffer (little-endian words 0x00RRGGBB, `pitch` bytes a row). */
export function paintColourBars(buffer: ArrayBuffer, width: number, height: number, pitch: number): void {
  const pixels = new Uint32Array(buffer, 0, (pitch / 4) * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) pixels[y * (pitch / 4) + x] = COLOUR_BARS[Math.floor((x * COLOUR_BARS.length) / width)];
  }
}

export interface MasterOptions {
  device: string;
  mode?: ModeRequest;
}

export interface Modeset {
  connector: DrmConnector;
  mode: DrmMode;
  crtcId: number;
  fbId: number;
  /** Restores the saved CRTC and releases everything, in reverse order of acquisition. */
  close(): void;
}

/** Opens the card and shows the test pattern. On failure, whatever was acquired is released. */
export async function start(options: MasterOptions, binding: DrmBinding = drm()): Promise<Modeset> {
  // Each acquisition pushes its release; close() (or a failure half-way) runs them last-first.
  const releases: Array<[string, () => void]> = [];
  const close = (): void => {
    for (const [what, release] of releases.reverse()) {
      try {
        release();
      } catch (error) {
        logError(`while releasing (${what}): ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    releases.length = 0;
  };
  try {
    const fd = binding.open(options.device);
    releases.push(["close the card", () => binding.close(fd)]);
    const version = binding.getVersion(fd); // ENOTTY here: the path is not a DRM device
    log(`opened ${options.device}: driver ${version.name} ${version.major}.${version.minor}.${version.patchlevel}`);
    try {
      binding.setMaster(fd);
    } catch (error) {
      // The kernel answers EBUSY when another open file is master (a compositor such as Weston holds the card).
      if (reason(error) === "EBUSY") throw new FatalError(`${options.device} is in use by another DRM master (set master: EBUSY): a compositor or another modeset program holds the card; stop it first`);
      throw new FatalError(`no DRM master rights on ${options.device} (${reason(error)}): this process lacks the rights (CAP_SYS_ADMIN)`);
    }
    releases.push(["drop master", () => binding.dropMaster(fd)]);
    if (binding.getCap(fd, DRM_CAP_DUMB_BUFFER) === 0) throw new FatalError(`driver ${version.name} has no dumb buffers`);

    const resources = binding.getResources(fd);
    log(`Connectors: ${resources.connectors.length}, Encoders: ${resources.encoders.length}, CRTCs: ${resources.crtcs.length}`);
    const connector = pickConnector(binding, fd, resources);
    const { mode, why } = chooseMode(connector.modes, options.mode);
    const crtcId = findCrtc(binding, fd, resources, connector);
    log(`connector ${connector.id} (${connector.typeName}-${connector.typeId}): ${connector.modes.length} modes, using ${describeMode(mode)} (${why}) on CRTC ${crtcId}`);

    // A dumb buffer is CPU-drawable memory; a framebuffer tells KMS how to scan it out.
    const dumb = binding.createDumb(fd, mode.hdisplay, mode.vdisplay, BPP);
    releases.push(["destroy the dumb buffer", () => binding.destroyDumb(fd, dumb.handle)]);
    const fbId = binding.addFb(fd, mode.hdisplay, mode.vdisplay, DEPTH, BPP, dumb.pitch, dumb.handle);
    releases.push(["remove the framebuffer", () => binding.rmFb(fd, fbId)]);
    const pixels = binding.mapDumb(fd, dumb.handle, dumb.size);
    releases.push(["unmap the dumb buffer", () => binding.unmapDumb(pixels)]);
    paintColourBars(pixels, mode.hdisplay, mode.vdisplay, dumb.pitch);

    // Save what the CRTC shows now (the console, usually) so that leaving puts it back.
    const saved = binding.getCrtc(fd, crtcId);
    binding.setCrtc(fd, crtcId, fbId, 0, 0, [connector.id], mode);
    releases.push(["restore the CRTC", () => {
      binding.setCrtc(fd, saved.id, saved.fbId, saved.x, saved.y, saved.mode === null ? [] : [connector.id], saved.mode);
      log(`restored CRTC ${crtcId}: reads back fb ${binding.getCrtc(fd, crtcId).fbId} (saved fb ${saved.fbId})`);
    }]);
    log(`modeset OK: connector ${connector.id}, mode ${describeMode(mode)}, CRTC ${crtcId}, fb ${fbId} (saved fb ${saved.fbId})`);
    log(`CRTC ${crtcId} reads back fb ${binding.getCrtc(fd, crtcId).fbId} (ours: fb ${fbId})`);
    return { connector, mode, crtcId, fbId, close };
  } catch (error) {
    close();
    throw error;
  }
}

async function main(): Promise<number> {
  const { values } = parseCommandLine({
    name: "drm-master",
    summary: "Consumer of the DRM pattern: becomes DRM master on the KMS node pv-xconnect injects (service drm-master) and shows colour bars with a real modeset.",
    options: {
      device: { type: "string", value: "PATH", default: devicePath(DEVICE_PATH), help: "the injected KMS node" },
      mode: { type: "string", value: "WxH[@HZ]", help: "the mode to set (default: the connector's preferred, else the largest)" },
      hold: { type: "string", value: "SECONDS", default: String(HOLD_SECONDS), help: "how long to show the picture; 0: until SIGTERM" },
      wait: WAIT_OPTION,
    },
    env: ROOT_ENV,
    notes: ["Needs DRM master rights: no other master (compositor) on the card, and CAP_SYS_ADMIN unless it is the first opener."],
    examples: ["drm-master --device /dev/dri/card0 --mode 1024x768 --hold 5"],
  });
  const device = values.device;
  const holdSeconds = nonNegativeNumber("hold", values.hold);
  const wait = waitSeconds(values.wait);
  const mode = values.mode === undefined ? undefined : parseModeRequest(values.mode);
  log(`drm-master: device ${device}, mode ${values.mode ?? "preferred"}, hold ${holdSeconds === 0 ? "until SIGTERM" : `${holdSeconds} s`}`);

  const stopping = stopSignal();
  if (!(await waitForPath(device, { waitSeconds: wait, what: "DRM device", signal: stopping }))) {
    if (stopping.aborted) return 0;
    throw new FatalError(`DRM device ${device} did not appear within ${wait} s (--wait)`);
  }
  const modeset = await start({ device, mode });
  log(`holding the picture ${holdSeconds === 0 ? "until SIGTERM" : `for ${holdSeconds} s (SIGTERM ends it early)`}`);
  if (holdSeconds > 0) await sleep(holdSeconds * 1000, stopping);
  else await untilAborted(stopping);
  log(stopping.aborted ? `${String(stopping.reason)} received, restoring` : "hold time over, restoring");
  modeset.close();
  log("drm-master: released everything");
  return 0;
}

if (require.main === module) runMain(main);
