// Spawn to ready, and memory once idle, for every provider bundle against the baseline of its row,
// and against Node's own floor (`node -e 0`, started in the same rounds). "Ready" is what a consumer
// needs: the socket accepts a connection (unix, REST, Wayland), or the bus name is owned (D-Bus),
// or, for drm-provider (nothing to serve), its "serving" line. Every start is a new process (the
// page cache stays warm: "cold" means a fresh process, not a fresh machine). RSS is VmRSS of the
// program's own process, read after it has been idle a moment; the note adds what its helpers cost
// (dbus-daemon, Weston) when it has any. Most of a Node program's VmRSS is the node executable's
// own pages (file-backed); RssAnon shows its private memory apart.
import { mkdirSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { bundleOf, inRounds, type Context, type Row } from "../lib/context";
import { waitNameOwned } from "../lib/dbus";
import { atMost, atMostTimesBaseline, notMeasured, type Figure, type Target } from "../lib/figures";
import { launch, rssMb, sleep, tail, treeRssMb, waitConnectable, type Proc } from "../lib/processes";
import { baseline, missing, PYTHON } from "../lib/tools";
import { launchBusServer, missingForDbus } from "./dbus";

const ROW = "spawn to ready";
const READY_TIMEOUT_MS = 15_000;

type Side = "ours" | "baseline";

interface Provider {
  program: string;
  baselineName: string | null;
  /** The spawn-to-ready target: against the baseline's median, or against `node -e 0`'s, or in ms. */
  target: { vs: "baseline" | "floor"; target: Target } | null;
  /** Why this provider cannot be measured here, or null. */
  missing(context: Context): string | null;
  launch(context: Context, side: Side, dir: string): Proc;
  /** Resolves with performance.now() at the moment the provider is ready. */
  ready(side: Side, dir: string, proc: Proc): Promise<number>;
}

const node = (context: Context, program: string, args: string[]): Proc => launch(program, process.execPath, [bundleOf(context, program)!, ...args]);

/** Weston's arguments as wayland-server passes them for the headless backend. */
const WESTON_HEADLESS = ["--backend=headless-backend.so", "--socket=wayland-0", "--use-pixman", "--idle-time=0"];

const PROVIDERS: Provider[] = [
  {
    program: "unix-server",
    baselineName: "socat fork + cat",
    target: { vs: "baseline", target: atMost(150, "ms") },
    missing: () => missing("socat", "socat"),
    launch: (context, side, dir) =>
      side === "ours" ? node(context, "unix-server", ["--socket", join(dir, "raw.sock")]) : launch("socat", "sh", [baseline(context.repo, "unix-server.sh"), join(dir, "raw.sock")]),
    ready: (_side, dir, proc) => waitConnectable(join(dir, "raw.sock"), proc, READY_TIMEOUT_MS),
  },
  {
    program: "rest-server",
    baselineName: "python3 http.server",
    target: { vs: "floor", target: atMostTimesBaseline(1.5) },
    missing: () => missing(PYTHON, "python3"),
    launch: (context, side, dir) =>
      side === "ours" ? node(context, "rest-server", ["--socket", join(dir, "api.sock")]) : launch("http.server", PYTHON, [baseline(context.repo, "rest-server.py"), join(dir, "api.sock")]),
    ready: (_side, dir, proc) => waitConnectable(join(dir, "api.sock"), proc, READY_TIMEOUT_MS),
  },
  {
    program: "dbus-server",
    baselineName: "python3-dbus + GLib",
    target: { vs: "baseline", target: atMostTimesBaseline(1.05) },
    missing: (context) => missingForDbus(context),
    launch: (context, side, dir) => launchBusServer(context, side, join(dir, "bus"), dir),
    ready: (_side, dir, proc) => waitNameOwned(join(dir, "bus"), proc, READY_TIMEOUT_MS),
  },
  {
    program: "wayland-server",
    baselineName: "weston (headless), run directly",
    target: { vs: "baseline", target: atMost(150, "ms") },
    missing: () => missing("weston", "weston"),
    launch(context, side, dir) {
      if (side === "ours") return node(context, "wayland-server", ["--socket", join(dir, "wayland-0"), "--backend", "headless"]);
      return launch("weston", "weston", WESTON_HEADLESS, { env: { XDG_RUNTIME_DIR: dir } });
    },
    ready: (_side, dir, proc) => waitConnectable(join(dir, "wayland-0"), proc, READY_TIMEOUT_MS),
  },
  {
    program: "drm-provider",
    baselineName: null,
    target: { vs: "baseline", target: atMost(150, "ms") },
    missing: () => null,
    launch: (context, _side, dir) => node(context, "drm-provider", ["--master", join(dir, "card0"), "--render", join(dir, "renderD128")]),
    ready: (_side, _dir, proc) => proc.waitForLine(/serving until SIGTERM/, READY_TIMEOUT_MS),
  },
];

/** Spawn to exit of `node -e 0`, in ms. */
async function nodeFloorMs(): Promise<number> {
  const proc = launch("node", process.execPath, ["-e", "0"]);
  const exit = await proc.exited;
  if (exit.code !== 0) throw new Error(`node -e 0 exited with ${exit.signal ?? exit.code}${tail(proc.output())}`);
  return performance.now() - proc.spawnedAt;
}

async function measureProvider(context: Context, provider: Provider): Promise<Figure[]> {
  const names = { ours: provider.program, baseline: provider.baselineName ?? "-" };
  const { coldStarts } = context.settings;
  const metrics = [`spawn to ready (median of ${coldStarts})`, "spawn to ready against node -e 0", "RSS once idle", "private memory (RssAnon) once idle"];
  const why = bundleOf(context, provider.program) === null ? `dist/${provider.program}/main.js missing (npm run build)` : provider.missing(context);
  if (why !== null) return metrics.map((metric) => notMeasured(ROW, `${provider.program}: ${metric}`, why, names));

  const readyMs: Record<Side, number[]> = { ours: [], baseline: [] };
  const floorMs: number[] = [];
  const rss: Record<Side, number[]> = { ours: [], baseline: [] };
  const anon: Record<Side, number[]> = { ours: [], baseline: [] };
  const helpers: Record<Side, number[]> = { ours: [], baseline: [] };
  const sides: (Side | "floor")[] = provider.baselineName === null ? ["ours", "floor"] : ["ours", "baseline", "floor"];
  await inRounds(coldStarts, sides, async (side) => {
    if (side === "floor") return void floorMs.push(await nodeFloorMs());
    const dir = mkdtempSync(join(context.scratch, `${provider.program}-${side}-`));
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const proc = provider.launch(context, side, dir);
    try {
      const readyAt = await provider.ready(side, dir, proc);
      readyMs[side].push(readyAt - proc.spawnedAt);
      await sleep(context.settings.idleMs);
      const own = rssMb(proc.pid);
      const tree = treeRssMb(proc.pid);
      const privateMb = rssMb(proc.pid, "RssAnon");
      if (own === null || tree === null || privateMb === null) throw new Error(`${proc.name} exited while idle`);
      rss[side].push(own);
      anon[side].push(privateMb);
      helpers[side].push(tree - own);
    } finally {
      await proc.stop();
    }
  });

  const base = { row: ROW, oursName: names.ours, baselineName: names.baseline, higherIsBetter: false };
  const helperNote = (["ours", "baseline"] as const)
    .filter((side) => helpers[side].some((mb) => mb > 1))
    .map((side) => `${names[side]}'s helper processes add ${Math.max(...helpers[side]).toFixed(1)} MB`)
    .join("; ");
  const target = (vs: "baseline" | "floor"): { target?: Target } => (provider.target?.vs === vs ? { target: provider.target.target } : {});
  return [
    { ...base, metric: `${provider.program}: ${metrics[0]}`, unit: "ms", ours: readyMs.ours, baseline: readyMs.baseline, ...target("baseline") },
    { ...base, metric: `${provider.program}: ${metrics[1]}`, unit: "ms", baselineName: "node -e 0", ours: readyMs.ours, baseline: floorMs, ...target("floor") },
    { ...base, metric: `${provider.program}: ${metrics[2]}`, unit: "MB", ours: rss.ours, baseline: rss.baseline, target: atMost(45, "MB"), ...(helperNote ? { note: helperNote } : {}) },
    { ...base, metric: `${provider.program}: ${metrics[3]}`, unit: "MB", ours: anon.ours, baseline: anon.baseline },
  ];
}

/** The runtimes' own floor: spawn to exit of an empty program (`node -e 0`, `python3 -c pass`). */
async function runtimeFloor(context: Context): Promise<Figure> {
  const ms: Record<Side, number[]> = { ours: [], baseline: [] };
  await inRounds(context.settings.coldStarts, ["ours", "baseline"] as const, async (side) => {
    if (side === "ours") return void ms.ours.push(await nodeFloorMs());
    const proc = launch("python3", PYTHON, ["-c", "pass"]);
    const exit = await proc.exited;
    if (exit.code !== 0) throw new Error(`${proc.name} exited with ${exit.signal ?? exit.code}${tail(proc.output())}`);
    ms.baseline.push(performance.now() - proc.spawnedAt);
  });
  return { row: ROW, metric: "runtime floor: empty program, spawn to exit", unit: "ms", oursName: "node -e 0", baselineName: "python3 -c pass", ...ms, higherIsBetter: false };
}

export const spawnRow: Row = {
  name: "spawn",
  title: ROW,
  async run(context: Context): Promise<Figure[]> {
    const figures: Figure[] = [await runtimeFloor(context)];
    for (const provider of PROVIDERS) {
      figures.push(...(await measureProvider(context, provider)));
      const [ready] = figures.slice(-4);
      context.log(`spawn: ${provider.program}: ${ready!.ours.map((ms) => ms.toFixed(0)).join(" ")} ms; baseline ${ready!.baseline.map((ms) => ms.toFixed(0)).join(" ")} ms`);
    }
    return figures;
  },
};
