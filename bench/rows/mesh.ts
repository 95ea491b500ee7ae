// Mesh stand-in overhead: REST `GET /info` latency direct to rest-server's socket against through
// the socket the local mesh (mesh/xconnect.ts) injects into rest-client, under both profiles:
// master (a byte proxy, as pv-xconnect master) and documented (an HTTP proxy that injects the
// identity headers). One request at a time, so the p50 is the cost of one request, not a queue.
// The mesh runs in this process, the load generator in its own, rest-server in its own.
import { join } from "node:path";
import { startMesh, type Mesh } from "../../mesh/xconnect";
import { PROFILES } from "../../mesh/types/link";
import { bundleOf, inRounds, runLoad, type Context, type Row } from "../lib/context";
import { atMostTimesBaseline, notMeasured, type Figure } from "../lib/figures";
import { cleanupOnSignal } from "../lib/processes";

const ROW = "mesh stand-in overhead";
const PROVIDER_SOCKET = "/run/example/api.sock";
const CONSUMER_TARGET = "/run/pv/services/api.sock";
const READY_TIMEOUT_MS = 10_000;

export const meshRow: Row = {
  name: "mesh",
  title: ROW,
  async run(context: Context): Promise<Figure[]> {
    const names = (profile: string): { ours: string; baseline: string } => ({ ours: `through stand-in (${profile})`, baseline: "direct" });
    const absent = ["rest-server", "rest-client"].find((program) => bundleOf(context, program) === null);
    if (absent !== undefined) return PROFILES.map((profile) => notMeasured(ROW, "REST p50 latency, 1 connection", `dist/${absent}/main.js missing (npm run build)`, names(profile)));

    const figures: Figure[] = [];
    for (const profile of PROFILES) {
      let mesh: Mesh | null = null;
      const unregister = cleanupOnSignal(async () => mesh?.close());
      try {
        // rest-client is the consumer whose target the mesh injects; a long interval keeps its own
        // requests out of the measurement.
        mesh = await startMesh({ containers: [{ name: "rest-server" }, { name: "rest-client", args: ["--interval", "3600"] }], profile });
        await mesh.waitForOutput("rest-server", /serving GET \/info/, READY_TIMEOUT_MS);
        const sockets = { ours: join(mesh.rootOf("rest-client"), CONSUMER_TARGET), baseline: join(mesh.rootOf("rest-server"), PROVIDER_SOCKET) };
        const p50 = { ours: [] as number[], baseline: [] as number[] };
        const { settings } = context;
        await inRounds(settings.rounds, ["ours", "baseline"] as const, async (side) => {
          const result = await runLoad("http", { socket: sockets[side], concurrency: 1, warmupSeconds: settings.warmupSeconds, seconds: settings.loadSeconds });
          if (result.count === 0) throw new Error(`no request answered ${side === "ours" ? "through the stand-in" : "directly"} (${result.errors} errors)`);
          p50[side].push(result.p50Ms);
          context.log(`mesh (${profile}): ${names(profile)[side]}: p50 ${result.p50Ms.toFixed(3)} ms, ${result.perSecond.toFixed(0)} requests/s`);
        });
        figures.push({
          row: ROW,
          metric: "REST p50 latency, 1 connection",
          unit: "ms",
          oursName: names(profile).ours,
          baselineName: names(profile).baseline,
          ...p50,
          higherIsBetter: false,
          target: atMostTimesBaseline(1.3),
        });
      } finally {
        unregister();
        await mesh?.close();
      }
    }
    return figures;
  },
};
