// REST `GET /info` over the unix socket: rest-server (fastify) against upstream's provider, a Python
// http.server bound to a unix socket (bench/baselines/rest-server.py) answering the same JSON.
// Load: 10 connections of undici for a fixed window, from a process of its own.
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { bundleOf, inRounds, runLoad, type Context, type Row } from "../lib/context";
import { atLeastTimesBaseline, atMost, notMeasured, type Figure } from "../lib/figures";
import { launch, waitConnectable, type Proc } from "../lib/processes";
import { baseline, missing, PYTHON } from "../lib/tools";

const ROW = "REST GET /info";
const CONNECTIONS = 10;
const NAMES = { ours: "rest-server", baseline: "python3 http.server" };
const READY_TIMEOUT_MS = 10_000;

/** Whether both servers answered the same JSON document (spacing aside). */
function sameDocument(ours: string, theirs: string): boolean {
  try {
    return JSON.stringify(JSON.parse(ours)) === JSON.stringify(JSON.parse(theirs));
  } catch {
    return false;
  }
}

export const restRow: Row = {
  name: "rest",
  title: ROW,
  async run(context: Context): Promise<Figure[]> {
    const bundle = bundleOf(context, "rest-server");
    const why = bundle === null ? "dist/rest-server/main.js missing (npm run build)" : missing(PYTHON, "python3");
    if (why !== null) return ["requests/s", "p50 latency", "p99 latency"].map((metric) => notMeasured(ROW, metric, why, NAMES));

    const dir = mkdtempSync(join(context.scratch, "rest-"));
    const sockets = { ours: join(dir, "ours.sock"), baseline: join(dir, "baseline.sock") };
    const servers: Proc[] = [];
    try {
      const ours = launch(NAMES.ours, process.execPath, [bundle!, "--socket", sockets.ours]);
      const theirs = launch(NAMES.baseline, PYTHON, [baseline(context.repo, "rest-server.py"), sockets.baseline]);
      servers.push(ours, theirs);
      await waitConnectable(sockets.ours, ours, READY_TIMEOUT_MS);
      await waitConnectable(sockets.baseline, theirs, READY_TIMEOUT_MS);

      const figures = {
        rps: { ours: [] as number[], baseline: [] as number[] },
        p50: { ours: [] as number[], baseline: [] as number[] },
        p99: { ours: [] as number[], baseline: [] as number[] },
      };
      const samples: Record<string, string> = {};
      const { settings } = context;
      await inRounds(settings.rounds, ["ours", "baseline"] as const, async (side) => {
        const result = await runLoad("http", { socket: sockets[side], concurrency: CONNECTIONS, warmupSeconds: settings.warmupSeconds, seconds: settings.loadSeconds });
        if (result.count === 0) throw new Error(`${NAMES[side]} answered no request in ${settings.loadSeconds} s (${result.errors} errors)`);
        figures.rps[side].push(result.perSecond);
        figures.p50[side].push(result.p50Ms);
        figures.p99[side].push(result.p99Ms);
        samples[side] = result.sample;
        context.log(`rest: ${NAMES[side]}: ${result.perSecond.toFixed(0)} requests/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, ${result.errors} errors`);
      });
      const note = sameDocument(samples.ours!, samples.baseline!) ? undefined : `the two servers answered different JSON: ${samples.ours} vs ${samples.baseline}`;

      const base = { row: ROW, oursName: NAMES.ours, baselineName: NAMES.baseline, note };
      return [
        { ...base, metric: `requests/s, ${CONNECTIONS} connections`, unit: "req/s", ...figures.rps, higherIsBetter: true, target: atLeastTimesBaseline(5) },
        { ...base, metric: "p50 latency", unit: "ms", ...figures.p50, higherIsBetter: false },
        { ...base, metric: "p99 latency", unit: "ms", ...figures.p99, higherIsBetter: false, target: atMost(1, "ms") },
      ];
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
    }
  },
};
