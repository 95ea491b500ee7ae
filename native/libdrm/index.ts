// The typed face of the libdrm addon (drm.cc). The addon is loaded from one explicit place: the
// directory of the running bundle, where scripts/build.mjs copies drm.node (dist/<program>/ on the
// host; the bundle's install directory in the image). Functions throw Errors whose `code` is the
// errno name ("cannot open /dev/dri/card0: ENOENT"). Only types and constants live here: the
// decisions (mode choice, retries, restore order) belong to the programs.
import { join } from "node:path";

/** A display mode, as the kernel reports it (drmModeModeInfo); pass it back unchanged to setCrtc. */
export interface DrmMode {
  name: string;
  clock: number;
  hdisplay: number;
  hsyncStart: number;
  hsyncEnd: number;
  htotal: number;
  hskew: number;
  vdisplay: number;
  vsyncStart: number;
  vsyncEnd: number;
  vtotal: number;
  vscan: number;
  vrefresh: number;
  flags: number;
  type: number;
}

export interface DrmVersion {
  name: string;
  major: number;
  minor: number;
  patchlevel: number;
  date: string;
  description: string;
}

export interface DrmResources {
  framebuffers: number[];
  crtcs: number[];
  connectors: number[];
  encoders: number[];
  minWidth: number;
  maxWidth: number;
  minHeight: number;
  maxHeight: number;
}

export interface DrmConnector {
  id: number;
  type: number;
  /** libdrm's name for the type: "HDMI-A", "Virtual", ... */
  typeName: string;
  typeId: number;
  /** CONNECTED, DISCONNECTED or UNKNOWN_CONNECTION. */
  connection: number;
  /** The encoder driving it now, 0 for none. */
  encoderId: number;
  encoders: number[];
  mmWidth: number;
  mmHeight: number;
  modes: DrmMode[];
}

export interface DrmEncoder {
  id: number;
  type: number;
  crtcId: number;
  /** Bit i set: the encoder can drive the i-th CRTC of DrmResources.crtcs. */
  possibleCrtcs: number;
}

export interface DrmCrtc {
  id: number;
  /** The framebuffer scanned out now, 0 for none. */
  fbId: number;
  x: number;
  y: number;
  mode: DrmMode | null;
}

export interface DumbBuffer {
  handle: number;
  pitch: number;
  size: number;
}

/** The addon's functions: one per libdrm call (see drm.cc for the one-line doc of each). */
export interface DrmBinding {
  open(path: string): number;
  close(fd: number): void;
  getVersion(fd: number): DrmVersion;
  getCap(fd: number, cap: number): number;
  setMaster(fd: number): void;
  dropMaster(fd: number): void;
  getResources(fd: number): DrmResources;
  getConnector(fd: number, id: number): DrmConnector;
  getEncoder(fd: number, id: number): DrmEncoder;
  getCrtc(fd: number, id: number): DrmCrtc;
  setCrtc(fd: number, crtcId: number, fbId: number, x: number, y: number, connectorIds: number[], mode: DrmMode | null): void;
  createDumb(fd: number, width: number, height: number, bpp: number): DumbBuffer;
  mapDumb(fd: number, handle: number, size: number): ArrayBuffer;
  unmapDumb(buffer: ArrayBuffer): void;
  destroyDumb(fd: number, handle: number): void;
  addFb(fd: number, width: number, height: number, depth: number, bpp: number, pitch: number, handle: number): number;
  rmFb(fd: number, fbId: number): void;
}

// From the kernel's uapi (drm.h, drm_mode.h).
export const DRM_CAP_DUMB_BUFFER = 0x1;
export const DRM_MODE_CONNECTED = 1;
export const DRM_MODE_DISCONNECTED = 2;
export const DRM_MODE_UNKNOWNCONNECTION = 3;
export const DRM_MODE_TYPE_PREFERRED = 1 << 3;

/** Where the addon is loaded from: beside the bundle (the build copies it there). */
export const ADDON_PATH = join(__dirname, "drm.node");

let loaded: DrmBinding | undefined;

/** The real binding, loaded on first use so that tests with a fake never need the .node file. */
export function drm(): DrmBinding {
  // A plain require with a computed path keeps the .node out of the esbuild bundle (an import
  // statement cannot load a .node file).
  loaded ??= require(ADDON_PATH) as DrmBinding;
  return loaded;
}
