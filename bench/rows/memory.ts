// Memory of every program, clients included, once steady: the demo's mesh (every pattern this
// machine can run) with the clients ticking every 50 ms, until each client has made its warm-up
// exchanges (100; 10 with --quick); then VmRSS and RssAnon of each program's own process, beside a
// bare `node -e` kept alive, started and read at the same moments. Each round is a fresh mesh.
// Target: every program within 10 MB of the bare node (medians). The soak (`--soak MINUTES`,
// bench/soak.ts) follows the same mesh for an hour.
import { BARE_NODE, meshPrograms, startDemoMesh, type Memory } from "../lib/demo-mesh";
import { notMeasured, withinOfBaseline, type Figure } from "../lib/figures";
import type { Context, Row } from "../lib/context";

const ROW = "memory";
const WARMUP_EXCHANGES = { full: 100, quick: 10 };
const WARMUP_TIMEOUT_MS = 60_000;
const METRICS = ["RSS once steady", "private memory (RssAnon) once steady"];

export const memoryRow: Row = {
  name: "memory",
  title: ROW,
  async run(context: Context): Promise<Figure[]> {
    const { available, unavailable } = meshPrograms();
    const warmup = context.settings.quick ? WARMUP_EXCHANGES.quick : WARMUP_EXCHANGES.full;
    const samples = new Map<string, Memory[]>([...available.map((p) => p.container), BARE_NODE].map((name) => [name, []]));
    for (let round = 0; round < context.settings.rounds; round++) {
      const mesh = await startDemoMesh();
      try {
        await mesh.warmedUp(warmup, WARMUP_TIMEOUT_MS);
        const gone = mesh.exited();
        if (gone.length > 0) throw new Error(`exited during the warm-up: ${gone.map((name) => `${name}${mesh.lastLines(name)}`).join("; ")}`);
        const memory = mesh.memory();
        for (const [name, sample] of memory) samples.get(name)!.push(sample);
        context.log(`memory: round ${round + 1}: ${[...memory].map(([name, m]) => `${name} ${m.rssMb.toFixed(1)}`).join(", ")} MB`);
      } finally {
        await mesh.close();
      }
    }

    const bare = samples.get(BARE_NODE)!;
    const figures: Figure[] = [];
    for (const program of available) {
      const ours = samples.get(program.container)!;
      const base = { row: ROW, oursName: program.container, baselineName: BARE_NODE, unit: "MB", higherIsBetter: false };
      figures.push(
        { ...base, metric: `${program.container}: ${METRICS[0]}`, ours: ours.map((m) => m.rssMb), baseline: bare.map((m) => m.rssMb), target: withinOfBaseline(10, "MB") },
        { ...base, metric: `${program.container}: ${METRICS[1]}`, ours: ours.map((m) => m.anonMb), baseline: bare.map((m) => m.anonMb) },
      );
    }
    for (const { container, why } of unavailable) {
      figures.push(...METRICS.map((metric) => notMeasured(ROW, `${container}: ${metric}`, why, { ours: container, baseline: BARE_NODE })));
    }
    return figures;
  },
};
