// The demo's mesh (mesh/demo.ts: every pattern this machine can run, wired by the local mesh) with
// the clients ticking fast, beside a bare `node` kept alive, for the memory row and the soak. It
// counts each program's exchanges from what the programs print (a provider counts those of its
// consumers) and reads the memory of each program's own process.
import { onPath } from "../../mesh/process";
import { drmUnavailable, hostDrmNodes } from "../../mesh/types/drm";
import { startMesh, type ContainerSpec, type Mesh } from "../../mesh/xconnect";
import { cleanupOnSignal, launch, rssMb, tail } from "./processes";

/** Seconds between two exchanges of a periodic client (the demo's are 2 s, a container's 5 s). */
export const FAST_INTERVAL = ["--interval", "0.05"];
const WAYLAND_REPORT_FRAMES = 60;

export interface MeshProgram {
  /** The container (its folder under containers/), as the table names it. */
  container: string;
  spec: ContainerSpec;
  /** A line that says one more exchange is done, and how many it counts for. */
  exchange?: { line: RegExp; counts: number };
  /** A provider: the containers whose exchanges it served. */
  serves?: string[];
  /** A program with no exchanges (it does its work once, then stays up): the line that says it is done. */
  done?: RegExp;
}

interface Pattern {
  name: string;
  programs: MeshProgram[];
  unavailable(): string | null;
}

const dbusClient = (container: string): MeshProgram => ({
  container,
  spec: { name: container, args: FAST_INTERVAL },
  exchange: { line: /the bus authenticated this connection/, counts: 1 },
});

/** The demo's patterns (mesh/demo.ts), plus ipam-probe, which needs no peer. */
const PATTERNS: Pattern[] = [
  {
    name: "unix socket",
    programs: [
      { container: "unix-server", spec: { name: "unix-server" }, serves: ["unix-client"] },
      { container: "unix-client", spec: { name: "unix-client", args: FAST_INTERVAL }, exchange: { line: /echo OK/, counts: 1 } },
    ],
    unavailable: () => null,
  },
  {
    name: "REST over UDS",
    programs: [
      { container: "rest-server", spec: { name: "rest-server" }, serves: ["rest-client"] },
      { container: "rest-client", spec: { name: "rest-client", args: FAST_INTERVAL }, exchange: { line: /GET \/info -> 200/, counts: 1 } },
    ],
    unavailable: () => null,
  },
  {
    name: "D-Bus",
    programs: [{ container: "dbus-server", spec: { name: "dbus-server" }, serves: ["dbus-client", "dbus-client-nobody"] }, dbusClient("dbus-client"), dbusClient("dbus-client-nobody")],
    unavailable: () =>
      !onPath("dbus-daemon") ? "dbus-daemon is not installed (apt-get install dbus)" : process.getuid?.() !== 0 ? "needs root: the mesh connects to the bus as each role's uid" : null,
  },
  {
    name: "DRM",
    programs: [
      { container: "drm-provider", spec: { name: "drm-provider", devices: hostDrmNodes() }, done: /serving until SIGTERM/ },
      { container: "drm-master", spec: { name: "drm-master", args: ["--hold", "0"] }, done: /holding the picture/ },
      { container: "drm-render", spec: { name: "drm-render" }, done: /DRM Render \(user\) success/ },
    ],
    unavailable: () => drmUnavailable() ?? (hostDrmNodes().some((node) => node.endsWith("/renderD128")) ? null : "no render node (/dev/dri/renderD128)"),
  },
  {
    // Weston renders into memory; without the DRM pattern, wayland-server goes without drm-master.
    name: "Wayland (headless Weston)",
    programs: [
      {
        container: "wayland-server",
        spec: { name: "wayland-server", args: ["--backend", "headless"], ...(drmUnavailable() === null ? {} : { without: { services: ["drm-master"], why: "Weston runs headless" } }) },
        serves: ["wayland-client"],
      },
      {
        container: "wayland-client",
        spec: { name: "wayland-client", args: ["--report", String(WAYLAND_REPORT_FRAMES)] },
        exchange: { line: /^(?:\S+ )?frame \d+$/, counts: WAYLAND_REPORT_FRAMES },
      },
    ],
    unavailable: () => (onPath("weston") ? null : "weston is not installed (apt-get install weston)"),
  },
  {
    name: "IPAM probe",
    programs: [{ container: "ipam-probe", spec: { name: "ipam-probe" }, done: /running until stopped/ }],
    unavailable: () => null,
  },
];

/** Every program the demo mesh can run here, and the ones it cannot, with why. */
export function meshPrograms(): { available: MeshProgram[]; unavailable: { container: string; why: string }[] } {
  const available: MeshProgram[] = [];
  const unavailable: { container: string; why: string }[] = [];
  for (const pattern of PATTERNS) {
    const why = pattern.unavailable();
    if (why === null) available.push(...pattern.programs);
    else unavailable.push(...pattern.programs.map((program) => ({ container: program.container, why: `${pattern.name} skipped: ${why}` })));
  }
  return { available, unavailable };
}

export interface Memory {
  rssMb: number;
  anonMb: number;
}

export const BARE_NODE = "node -e (kept alive)";

export interface DemoMesh {
  programs: MeshProgram[];
  /** Exchanges so far: a client's own, a provider's clients', 0 for a program that has none. */
  exchanges(container: string): number;
  /** Resolves once every client has made `count` exchanges and every one-shot program is done. */
  warmedUp(count: number, timeoutMs: number): Promise<void>;
  /** VmRSS and RssAnon of each program's own process, and of the bare node (BARE_NODE). */
  memory(): Map<string, Memory>;
  /** The programs that are no longer running. */
  exited(): string[];
  /** The last lines a program printed, for an error message. */
  lastLines(container: string): string;
  close(): Promise<void>;
}

/** Starts the bare node and the mesh with every available program; `close()` stops both. */
export async function startDemoMesh(): Promise<DemoMesh> {
  const { available: programs } = meshPrograms();
  const counts = new Map<string, number>(programs.map((program) => [program.container, 0]));
  const done = new Set<string>();
  const listeners = new Set<() => void>();
  const bare = launch(BARE_NODE, process.execPath, ["-e", "setInterval(() => {}, 1 << 30)"]);
  let mesh: Mesh | null = null;
  const unregister = cleanupOnSignal(async () => {
    await mesh?.close();
    await bare.stop();
  });
  const onLine = (container: string, line: string): void => {
    const program = programs.find((p) => p.container === container);
    if (program?.exchange?.line.test(line)) counts.set(container, counts.get(container)! + program.exchange.counts);
    else if (program?.done?.test(line)) done.add(container);
    else return;
    for (const listener of listeners) listener();
  };
  try {
    mesh = await startMesh({ containers: programs.map((program) => program.spec), profile: "documented", onLine });
  } catch (error) {
    unregister();
    await bare.stop();
    throw error;
  }
  const started = mesh;

  const exchanges = (container: string): number => {
    const program = programs.find((p) => p.container === container);
    if (program?.serves) return program.serves.reduce((sum, client) => sum + (counts.get(client) ?? 0), 0);
    return counts.get(container) ?? 0;
  };
  const ready = (count: number): boolean => programs.every((p) => (p.exchange ? counts.get(p.container)! >= count : p.done ? done.has(p.container) : true));

  return {
    programs,
    exchanges,
    warmedUp(count, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (!ready(count)) return;
          finish();
          resolve();
        };
        const finish = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        const timer = setTimeout(() => {
          finish();
          const behind = programs.filter((p) => (p.exchange ? counts.get(p.container)! < count : p.done ? !done.has(p.container) : false));
          reject(new Error(`warm-up: after ${timeoutMs / 1000} s, ${behind.map((p) => `${p.container} (${p.exchange ? `${counts.get(p.container)} of ${count} exchanges` : "not done"})`).join(", ")}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
    memory() {
      const memory = new Map<string, Memory>();
      const read = (name: string, pid: number): void => {
        const [rss, anon] = [rssMb(pid), rssMb(pid, "RssAnon")];
        if (rss !== null && anon !== null) memory.set(name, { rssMb: rss, anonMb: anon });
      };
      for (const program of programs) read(program.container, started.pid(program.container));
      read(BARE_NODE, bare.pid);
      return memory;
    },
    exited: () => programs.filter((program) => started.pid(program.container) <= 0).map((program) => program.container),
    lastLines: (container) => tail(started.output(container)),
    async close() {
      unregister();
      await started.close();
      await bare.stop();
    },
  };
}
