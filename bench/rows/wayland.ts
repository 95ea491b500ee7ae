// Wayland: wayland-client against Weston's reference shared-memory client (weston-simple-shm), both
// drawing into the same headless Weston (started by wayland-server), for a fixed number of frames.
// Both are counted the same way, from libwayland's own protocol log (WAYLAND_DEBUG=client):
//   frames drawn      = wl_surface.attach requests (a buffer shown),
//   frame callbacks   = wl_callback.done events for callbacks made by wl_surface.frame,
//   missed callbacks  = frame requests never answered (the one still pending at the stop aside),
//   time to first frame = spawn to the first commit carrying a buffer,
//   callbacks/s      = callbacks per second from the first frame on (Weston paces them, not the client).
// weston-simple-shm draws until stopped: the row stops it once it has received the frame count.
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { bundleOf, inRounds, type Context, type Row } from "../lib/context";
import { atMost, notMeasured, type Figure } from "../lib/figures";
import { launch, tail, waitConnectable, type Proc } from "../lib/processes";
import { missing } from "../lib/tools";

const ROW = "Wayland";
const NAMES = { ours: "wayland-client", baseline: "weston-simple-shm" };
const READY_TIMEOUT_MS = 15_000;
// The headless output repaints at 60 Hz: a frame count takes count / 60 s; allow twice that.
const SECONDS_PER_FRAME_LIMIT = 2 / 60;

interface FrameCount {
  drawn: number;
  callbacks: number;
  missed: number;
  firstFrameMs: number;
  /** Frame callbacks per second from the first frame to the last callback (Weston sets the pace). */
  fps: number;
}

/** Follows one client's WAYLAND_DEBUG log; calls `enough` once `frames` callbacks have arrived. */
function countFrames(proc: Proc, frames: number, enough: () => void): () => FrameCount {
  const pending = new Set<string>();
  let [drawn, callbacks, requested, attached, firstFrameAt, lastCallbackAt] = [0, 0, 0, false, NaN, NaN];
  proc.onLine((line, at) => {
    let match: RegExpExecArray | null;
    if ((match = / -> wl_surface@\d+\.frame\(new id wl_callback@(\d+)\)/.exec(line))) {
      pending.add(match[1]!);
      requested++;
    } else if (/ -> wl_surface@\d+\.attach\(wl_buffer@/.test(line)) {
      drawn++;
      attached = true;
    } else if (/ -> wl_surface@\d+\.commit\(\)/.test(line) && attached && Number.isNaN(firstFrameAt)) {
      firstFrameAt = at;
    } else if ((match = /^\[\s*[\d.]+\] wl_callback@(\d+)\.done\(/.exec(line)) && pending.delete(match[1]!)) {
      lastCallbackAt = at;
      if (++callbacks === frames) enough();
    }
  });
  return () => ({
    drawn,
    callbacks,
    missed: Math.max(0, requested - callbacks - 1),
    firstFrameMs: firstFrameAt - proc.spawnedAt,
    fps: (callbacks * 1000) / (lastCallbackAt - firstFrameAt),
  });
}

async function runClient(context: Context, side: "ours" | "baseline", socket: string, runtimeDir: string): Promise<FrameCount> {
  const { frames } = context.settings;
  const env = { WAYLAND_DEBUG: "client", WAYLAND_DISPLAY: socket, XDG_RUNTIME_DIR: runtimeDir };
  const proc =
    side === "ours"
      ? launch(NAMES.ours, process.execPath, [bundleOf(context, "wayland-client")!, "--socket", socket, "--frames", String(frames), "--report", String(frames)], { env })
      : launch(NAMES.baseline, "weston-simple-shm", [], { env });
  const result = countFrames(proc, frames, () => side === "baseline" && void proc.stop());
  const timer = setTimeout(() => void proc.stop(), READY_TIMEOUT_MS + frames * SECONDS_PER_FRAME_LIMIT * 1000);
  try {
    const exit = await proc.exited;
    const count = result();
    if (count.callbacks < frames) throw new Error(`${proc.name} stopped after ${count.callbacks} of ${frames} frame callbacks (${exit.signal ?? `code ${exit.code}`})${tail(proc.output().split("\n").filter((l) => !l.startsWith("[")).join("\n"), 1)}`);
    return count;
  } finally {
    clearTimeout(timer);
    await proc.stop();
  }
}

export const waylandRow: Row = {
  name: "wayland",
  title: ROW,
  async run(context: Context): Promise<Figure[]> {
    const { frames } = context.settings;
    const metrics = [`missed frame callbacks over ${frames} frames`, "time to first frame", "frame callbacks per second"];
    const absent = ["wayland-server", "wayland-client"].find((program) => bundleOf(context, program) === null);
    const why = absent !== undefined ? `dist/${absent}/main.js missing (npm run build)` : (missing("weston", "weston") ?? missing("weston-simple-shm", "weston"));
    if (why !== null) return metrics.map((metric) => notMeasured(ROW, metric, why, NAMES));

    const dir = mkdtempSync(join(context.scratch, "wayland-"));
    const socket = join(dir, "wayland-0");
    const compositor = launch("wayland-server", process.execPath, [bundleOf(context, "wayland-server")!, "--socket", socket, "--backend", "headless"]);
    try {
      await waitConnectable(socket, compositor, READY_TIMEOUT_MS);
      const missed = { ours: [] as number[], baseline: [] as number[] };
      const firstFrame = { ours: [] as number[], baseline: [] as number[] };
      const fps = { ours: [] as number[], baseline: [] as number[] };
      let drawnVsCallbacks = "";
      await inRounds(Math.min(context.settings.rounds, 3), ["ours", "baseline"] as const, async (side) => {
        const count = await runClient(context, side, socket, dir);
        missed[side].push(count.missed);
        firstFrame[side].push(count.firstFrameMs);
        fps[side].push(count.fps);
        if (side === "ours") drawnVsCallbacks = `${NAMES.ours}: ${count.drawn} frames drawn, ${count.callbacks} frame callbacks received`;
        context.log(`wayland: ${NAMES[side]}: ${count.drawn} drawn, ${count.callbacks} callbacks, ${count.missed} missed, first frame after ${count.firstFrameMs.toFixed(0)} ms, ${count.fps.toFixed(1)} frames/s`);
      });
      const base = { row: ROW, oursName: NAMES.ours, baselineName: NAMES.baseline, higherIsBetter: false };
      return [
        { ...base, metric: metrics[0]!, unit: "frames", ...missed, target: atMost(0, "missed"), note: drawnVsCallbacks },
        { ...base, metric: metrics[1]!, unit: "ms", ...firstFrame },
        { ...base, metric: metrics[2]!, unit: "frames/s", ...fps, higherIsBetter: true },
      ];
    } finally {
      await compositor.stop();
    }
  },
};
