// D-Bus `GetInfo` through the documented mesh against direct: the same dbus-server and
// dbus-daemon, called by one dbus-next connection either on the provider's own socket or on the
// socket the local mesh injects into dbus-client (role root), where the documented profile parses
// and filters every message both ways (mesh/types/dbus-filter.ts). Calls one after the other, then
// 10 in flight. The mesh runs in this process, the load generator in its own, dbus-server in its own.
import { join } from "node:path";
import { startMesh, type Mesh } from "../../mesh/xconnect";
import { bundleOf, inRounds, runLoad, type Context, type Row } from "../lib/context";
import { atLeastTimesBaseline, notMeasured, type Figure } from "../lib/figures";
import { cleanupOnSignal } from "../lib/processes";
import { missing } from "../lib/tools";

const ROW = "D-Bus GetInfo through the documented mesh";
const NAMES = { ours: "through the mesh (documented)", baseline: "direct" };
const SOCKET = "/run/dbus/system_bus_socket";
const IN_FLIGHT = [1, 10];
const READY_TIMEOUT_MS = 15_000;

function unavailable(context: Context): string | null {
  if (process.getuid?.() !== 0) return "needs root (the seed's policy lets only root own org.pantavisor.Example; the mesh connects as the role's uid)";
  const absent = ["dbus-server", "dbus-client"].find((program) => bundleOf(context, program) === null);
  if (absent !== undefined) return `dist/${absent}/main.js missing (npm run build)`;
  return missing("dbus-daemon", "dbus");
}

export const dbusMeshRow: Row = {
  name: "dbus-mesh",
  title: ROW,
  async run(context: Context): Promise<Figure[]> {
    const metric = (inFlight: number): string => (inFlight === 1 ? "calls/s, sequential" : `calls/s, ${inFlight} in flight`);
    const why = unavailable(context);
    if (why !== null) return IN_FLIGHT.map((n) => notMeasured(ROW, metric(n), why, NAMES));

    let mesh: Mesh | null = null;
    const unregister = cleanupOnSignal(async () => mesh?.close());
    try {
      // dbus-client is the consumer whose socket the mesh injects; it retries until one GetInfo
      // went through and exits (--count 1), which says the link works end to end. Its link stays.
      const client = { name: "dbus-client", args: ["--interval", "0.2", "--count", "1", "--wait", String(READY_TIMEOUT_MS / 1000)] };
      mesh = await startMesh({ containers: [{ name: "dbus-server" }, client], profile: "documented" });
      const exit = await mesh.exited("dbus-client");
      if (exit.code !== 0) throw new Error(`dbus-client got no GetInfo through the mesh (exit ${exit.code ?? exit.signal}): ${mesh.output("dbus-client").trim().split("\n").pop()}`);
      const sockets = { ours: join(mesh.rootOf("dbus-client"), SOCKET), baseline: join(mesh.rootOf("dbus-server"), SOCKET) };
      const { settings } = context;
      const samples: Record<string, string> = {};
      const figures: Figure[] = [];
      for (const inFlight of IN_FLIGHT) {
        const calls = { ours: [] as number[], baseline: [] as number[] };
        await inRounds(settings.rounds, ["ours", "baseline"] as const, async (side) => {
          const result = await runLoad("dbus-calls", { socket: sockets[side], concurrency: inFlight, warmupSeconds: settings.warmupSeconds, seconds: settings.loadSeconds });
          if (result.count === 0) throw new Error(`no GetInfo answered ${NAMES[side]} in ${settings.loadSeconds} s (${result.errors} errors)`);
          calls[side].push(result.perSecond);
          samples[side] = result.sample;
          context.log(`dbus-mesh: ${NAMES[side]}: ${result.perSecond.toFixed(0)} calls/s with ${inFlight} in flight, ${result.errors} errors`);
        });
        figures.push({
          row: ROW,
          metric: metric(inFlight),
          unit: "calls/s",
          oursName: NAMES.ours,
          baselineName: NAMES.baseline,
          ...calls,
          higherIsBetter: true,
          target: atLeastTimesBaseline(0.7, ">= 0.7x direct"),
        });
      }
      if (samples.ours !== samples.baseline) figures[0]!.note = `the two paths answered differently: ${samples.ours} vs ${samples.baseline}`;
      return figures;
    } finally {
      unregister();
      await mesh?.close();
    }
  },
};
