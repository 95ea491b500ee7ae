// Typed loader for the Wayland client addon (wayland.cc) and the little policy every client needs
// on top of it: a non-blocking roundtrip, the registry's globals, and one error type that names
// what failed. The addon is loaded from beside the bundle (dist/<program>/wayland.node), which is
// where the build and the Yocto recipe put it.
import { join } from "node:path";

export interface Global {
  name: number;
  interface: string;
  version: number;
}

/** Everything the compositor can tell this client, one plain object per event. */
export type WaylandEvent =
  | ({ type: "global" } & Global)
  | { type: "global_remove"; name: number }
  | { type: "sync"; id: number }
  | { type: "format"; format: number }
  | { type: "ping"; serial: number }
  | { type: "configure"; serial: number; width: number; height: number }
  | { type: "close" }
  | { type: "frame"; time: number }
  | { type: "release"; buffer: number }
  | ErrorEvent;

/**
 * The connection is dead. `errno` is libwayland's: EPROTO for an object's protocol error (with
 * interface, object and code), EINVAL / ENOMEM / EFAULT for an error the compositor raised on
 * wl_display itself (a malformed request), EPIPE / ECONNRESET when it closed the socket.
 * `message` is the compositor's text when it sent one.
 */
export interface ErrorEvent {
  type: "error";
  errno: string;
  interface?: string;
  object?: number;
  code?: number;
  message?: string;
}

/** The requests of wayland.cc's Display, one wl_* / xdg_* request (or a create/destroy pair) each. */
export interface Requests {
  sync(): number;
  bind(name: number, iface: "wl_compositor" | "wl_shm" | "xdg_wm_base", version: number): void;
  pong(serial: number): void;
  createWindow(title: string, appId: string): void;
  ackConfigure(serial: number): void;
  createPool(size: number): { id: number; memory: ArrayBuffer };
  destroyPool(id: number): void;
  createBuffer(pool: number, offset: number, width: number, height: number, stride: number, format: number): number;
  destroyBuffer(id: number): void;
  attach(buffer: number | null): void;
  damage(x: number, y: number, width: number, height: number): void;
  frame(): void;
  commit(): void;
  destroyWindow(): void;
  disconnect(): void;
}

/** The addon's exports (a test may pass its own, e.g. the .node beside a built bundle). */
export interface Addon {
  Display: new (path: string, onEvents: (events: WaylandEvent[]) => void) => Requests;
}

/** wl_shm formats (wayland.xml): the two every compositor must support. */
export const WL_SHM_FORMAT_ARGB8888 = 0;
export const WL_SHM_FORMAT_XRGB8888 = 1;

const DISCONNECTED = new Set(["EPIPE", "ECONNRESET", "ENOTCONN"]);

export class WaylandError extends Error {
  constructor(readonly event: ErrorEvent) {
    super(describe(event));
    this.name = "WaylandError";
  }

  /** The compositor went away (closed the socket), as opposed to rejecting something we sent. */
  get disconnected(): boolean {
    return DISCONNECTED.has(this.event.errno);
  }
}

function describe(event: ErrorEvent): string {
  // libwayland logs "<interface>@<id>: error <code>: <text>": the rest of the line says the first part.
  const text = (event.message ?? "").replace(/^\S+@\d+: error \d+: /, "");
  if (event.errno === "EPROTO") return `protocol error on ${event.interface}@${event.object} (code ${event.code}): ${text}`;
  if (text) return `the compositor rejected a request: ${text}`;
  if (DISCONNECTED.has(event.errno)) return `the compositor closed the connection (${event.errno})`;
  return `the connection to the compositor failed (${event.errno})`;
}

function loadAddon(): Addon {
  return require(join(__dirname, "wayland.node")) as Addon;
}

/**
 * One client connection. `requests` sends; events go to the listener set with `onEvent` (the
 * sync and registry events are handled here too). `failed` rejects once, with a WaylandError, when
 * the connection dies; every pending roundtrip rejects with it as well.
 */
export class WaylandDisplay {
  readonly requests: Requests;
  readonly globals: Global[] = [];
  readonly formats = new Set<number>();
  readonly failed: Promise<never>;
  private error: WaylandError | null = null;
  private fail: (error: WaylandError) => void = () => {};
  private readonly syncs = new Map<number, { resolve(): void; reject(error: Error): void }>();
  private listener: (event: WaylandEvent) => void = () => {};

  /** Connects to the compositor socket at an absolute path; throws "cannot connect to PATH: ERRNO". */
  constructor(path: string, addon: Addon = loadAddon()) {
    this.failed = new Promise<never>((_, reject) => (this.fail = reject));
    this.failed.catch(() => {}); // observed by whoever awaits it; not an unhandled rejection
    this.requests = new addon.Display(path, (events) => events.forEach((event) => this.handle(event)));
  }

  onEvent(listener: (event: WaylandEvent) => void): void {
    this.listener = listener;
  }

  /** Resolves once the compositor has handled every request sent so far (and sent its replies). */
  roundtrip(): Promise<void> {
    if (this.error) return Promise.reject(this.error);
    const id = this.requests.sync();
    return new Promise((resolve, reject) => this.syncs.set(id, { resolve, reject }));
  }

  /** The global for `iface`, or null when the compositor does not offer it. */
  find(iface: string): Global | null {
    return this.globals.find((global) => global.interface === iface) ?? null;
  }

  disconnect(): void {
    this.requests.disconnect();
  }

  private handle(event: WaylandEvent): void {
    switch (event.type) {
      case "global":
        this.globals.push({ name: event.name, interface: event.interface, version: event.version });
        break;
      case "global_remove": {
        const index = this.globals.findIndex((global) => global.name === event.name);
        if (index >= 0) this.globals.splice(index, 1);
        break;
      }
      case "format":
        this.formats.add(event.format);
        break;
      case "sync":
        this.syncs.get(event.id)?.resolve();
        this.syncs.delete(event.id);
        return;
      case "error":
        this.error = new WaylandError(event);
        for (const sync of this.syncs.values()) sync.reject(this.error);
        this.syncs.clear();
        this.fail(this.error);
        return;
    }
    this.listener(event);
  }
}
