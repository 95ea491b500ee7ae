// D-Bus `GetInfo` through the documented mesh against direct: the same dbus-server and
// dbus-daemon, called by one dbus-next connection either on the provider's own socket or on the
// socket the local mesh injects into dbus-client (role root), where the documented profile parses
// and filters every message both ways (mesh/types/dbus-filter.ts). Calls one after the other, then
// 10 in flight. The same through the master profile, a byte splice, shows what the extra hop
// costs by itself. The mesh runs in this process, the load generator in its own, dbus-server in its own.
import { join } from "node:path";
import type { Profile } from "../../mesh/types/link";
import { startMesh, type Mesh } from "../../mesh/xconnect";
import { bundleOf, inRounds, runLoad, type Context, type Row } from "../lib/context";
import { atLeastTimesBaseline, notMeasured, type Figure } from "../lib/figures";
import { cleanupOnSignal } from "../lib/processes";
import { missing } from "../lib/tools";

const ROW = "D-Bus GetInfo through the documented mesh";
const NAMES: Record<Profile, string> = { documented: "through the mesh (documented)", master: "through the mesh (master: byte splice, the hop alone)" };
const SOCKET = "/run/dbus/system_bus_socket";
const IN_FLIGHT = [1, 10];
const READY_TIMEOUT_MS = 15_000;

function unavailable(context: Context): string | null {
  if (process.getuid?.() !== 0) return "needs root (the seed's policy lets only root own org.pantavisor.Example; the mesh connects as the role's uid)";
  const absent = ["dbus-server", "dbus-client"].find((program) => bundleOf(context, program) === null);
  if (absent !== undefined) return `dist/${absent}/main.js missing (npm run build)`;
  return missing("dbus-daemon", "dbus");
}

const metric = (inFlight: number): string => (inFlight === 1 ? "calls/s, sequential" : `calls/s, ${inFlight} in flight`);

/** One profile's figures: GetInfo calls/s through its mesh and direct, round after round. */
async function measure(context: Context, profile: Profile): Promise<Figure[]> {
  let mesh: Mesh | null = null;
  const unregister = cleanupOnSignal(async () => mesh?.close());
  try {
    // dbus-client is the consumer whose socket the mesh injects; it retries until one GetInfo
    // went through and exits (--count 1), which says the link works end to end. Its link stays.
    const client = { name: "dbus-client", args: ["--interval", "0.2", "--count", "1", "--wait", String(READY_TIMEOUT_MS / 1000)] };
    mesh = await startMesh({ containers: [{ name: "dbus-server" }, client], profile });
    const exit = await mesh.exited("dbus-client");
    if (exit.code !== 0) throw new Error(`dbus-client got no GetInfo through the mesh (${profile}, exit ${exit.code ?? exit.signal}): ${mesh.output("dbus-client").trim().split("\n").pop()}`);
    const sockets = { ours: join(mesh.rootOf("dbus-client"), SOCKET), baseline: join(mesh.rootOf("dbus-server"), SOCKET) };
    const { settings } = context;
    // The mesh's code runs in this process and is compiled on first use; the direct path has
    // no code of its own. One untimed run through the mesh first, so that the rounds compare paths.
    await runLoad("dbus-calls", { socket: sockets.ours, concurrency: 10, warmupSeconds: 0, seconds: Math.max(0.5, settings.warmupSeconds) });
    const samples: Record<string, string> = {};
    const figures: Figure[] = [];
    for (const inFlight of IN_FLIGHT) {
      const calls = { ours: [] as number[], baseline: [] as number[] };
      await inRounds(settings.rounds, ["ours", "baseline"] as const, async (side) => {
        const result = await runLoad("dbus-calls", { socket: sockets[side], concurrency: inFlight, warmupSeconds: settings.warmupSeconds, seconds: settings.loadSeconds });
        const name = side === "ours" ? NAMES[profile] : "direct";
        if (result.count === 0) throw new Error(`no GetInfo answered ${name} in ${settings.loadSeconds} s (${result.errors} errors)`);
        calls[side].push(result.perSecond);
        samples[side] = result.sample;
        context.log(`dbus-mesh: ${name}: ${result.perSecond.toFixed(0)} calls/s with ${inFlight} in flight, ${result.errors} errors`);
      });
      figures.push({
        row: ROW,
        metric: metric(inFlight),
        unit: "calls/s",
        oursName: NAMES[profile],
        baselineName: "direct",
        ...calls,
        higherIsBetter: true,
        ...(profile === "documented" ? { target: atLeastTimesBaseline(0.7, ">= 0.7x direct") } : {}),
      });
    }
    if (samples.ours !== samples.baseline) figures[0]!.note = `the two paths answered differently: ${samples.ours} vs ${samples.baseline}`;
    return figures;
  } finally {
    unregister();
    await mesh?.close();
  }
}

export const dbusMeshRow: Row = {
  name: "dbus-mesh",
  title: ROW,
  async run(context: Context): Promise<Figure[]> {
    const why = unavailable(context);
    if (why !== null) return (["documented", "master"] as const).flatMap((profile) => IN_FLIGHT.map((n) => notMeasured(ROW, metric(n), why, { ours: NAMES[profile], baseline: "direct" })));
    return [...(await measure(context, "documented")), ...(await measure(context, "master"))];
  },
};
