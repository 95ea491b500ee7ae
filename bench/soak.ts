// The soak (`npm run bench -- --soak MINUTES`): the demo's mesh with the clients ticking every
// 50 ms (bench/lib/demo-mesh.ts) for MINUTES, beside a bare `node -e` kept alive. Every program's
// memory is read at a steady pace; the report gives, per program, its RSS at the start, at the end
// of the warm-up (a sixth of the run, 10 minutes at most) and at the end, and how much it grew
// after the warm-up: the least-squares line through every sample from then on, over that span
// (one sample taken at a garbage collector's high or low point would say more about the collector
// than about a leak), also per 1,000 exchanges. Target: under 2 MB of growth after the warm-up.
import { performance } from "node:perf_hooks";
import { BARE_NODE, startDemoMesh } from "./lib/demo-mesh";
import type { Context } from "./lib/context";
import { sleep } from "./lib/processes";

const GROWTH_TARGET_MB = 2;
const READY_EXCHANGES = 5;
const READY_TIMEOUT_MS = 60_000;

export interface SoakProgram {
  program: string;
  rssStartMb: number;
  rssAfterWarmupMb: number;
  rssEndMb: number;
  rssMaxMb: number;
  /** Growth after the warm-up (least-squares line over the samples), MB. */
  growthMb: number;
  exchangesAfterWarmup: number;
  /** growthMb per 1,000 exchanges; null for a program without exchanges. */
  growthPer1000Mb: number | null;
  met: boolean;
}

export interface SoakResult {
  minutes: number;
  warmupMinutes: number;
  sampleSeconds: number;
  samples: number;
  target: string;
  programs: SoakProgram[];
  /** Every sample: seconds since the start, and each program's RSS (MB) then. */
  series: { seconds: number[]; rssMb: Record<string, number[]> };
}

interface Sample {
  seconds: number;
  rssMb: Map<string, number>;
  exchanges: Map<string, number>;
}

/** The slope of the least-squares line through (x, y). */
function slope(points: [number, number][]): number {
  const n = points.length;
  if (n < 2) return 0;
  const [mx, my] = [points.reduce((s, [x]) => s + x, 0) / n, points.reduce((s, [, y]) => s + y, 0) / n];
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxx === 0 ? 0 : points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0) / sxx;
}

export async function runSoak(context: Context, minutes: number): Promise<SoakResult> {
  const seconds = minutes * 60;
  const warmupSeconds = Math.min(600, seconds / 6);
  const sampleSeconds = Math.max(2, Math.min(30, seconds / 60));
  const mesh = await startDemoMesh();
  const samples: Sample[] = [];
  try {
    await mesh.warmedUp(READY_EXCHANGES, READY_TIMEOUT_MS);
    const names = [...mesh.programs.map((p) => p.container), BARE_NODE];
    const start = performance.now();
    let lastLog = -Infinity;
    // One sample every sampleSeconds, the last one at the end of the run.
    for (let due = 0; ; due = Math.min(due + sampleSeconds, seconds)) {
      await sleep(Math.max(0, start + due * 1000 - performance.now()));
      const elapsed = (performance.now() - start) / 1000;
      const gone = mesh.exited();
      if (gone.length > 0) throw new Error(`exited after ${elapsed.toFixed(0)} s of the soak: ${gone.map((name) => `${name}${mesh.lastLines(name)}`).join("; ")}`);
      const memory = mesh.memory();
      samples.push({
        seconds: elapsed,
        rssMb: new Map(names.map((name) => [name, memory.get(name)?.rssMb ?? NaN])),
        exchanges: new Map(names.map((name) => [name, mesh.exchanges(name)])),
      });
      if (elapsed - lastLog >= 60) {
        lastLog = elapsed;
        context.log(`soak: ${(elapsed / 60).toFixed(1)} of ${minutes} min: ${names.map((name) => `${name} ${memory.get(name)?.rssMb.toFixed(1)}`).join(", ")} MB`);
      }
      if (due >= seconds) break;
    }

    const afterWarmup = samples.filter((s) => s.seconds >= warmupSeconds);
    const atWarmup = afterWarmup[0] ?? samples[samples.length - 1]!;
    const last = samples[samples.length - 1]!;
    const span = last.seconds - atWarmup.seconds;
    const programs = names.map((name): SoakProgram => {
      const perSecond = slope(afterWarmup.map((s) => [s.seconds, s.rssMb.get(name)!]));
      const growthMb = perSecond * span;
      const exchangesAfterWarmup = last.exchanges.get(name)! - atWarmup.exchanges.get(name)!;
      return {
        program: name,
        rssStartMb: samples[0]!.rssMb.get(name)!,
        rssAfterWarmupMb: atWarmup.rssMb.get(name)!,
        rssEndMb: last.rssMb.get(name)!,
        rssMaxMb: Math.max(...samples.map((s) => s.rssMb.get(name)!)),
        growthMb,
        exchangesAfterWarmup,
        growthPer1000Mb: exchangesAfterWarmup > 0 ? (growthMb * 1000) / exchangesAfterWarmup : null,
        met: growthMb < GROWTH_TARGET_MB,
      };
    });
    const series = { seconds: samples.map((s) => Math.round(s.seconds)), rssMb: Object.fromEntries(names.map((name) => [name, samples.map((s) => s.rssMb.get(name)!)])) };
    return { minutes, warmupMinutes: warmupSeconds / 60, sampleSeconds, samples: samples.length, target: `growth after the warm-up < ${GROWTH_TARGET_MB} MB`, programs, series };
  } finally {
    await mesh.close();
  }
}
