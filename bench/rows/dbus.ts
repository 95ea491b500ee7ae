// D-Bus `GetInfo` on a private dbus-daemon: dbus-server (dbus-next) against upstream's Python
// service (bench/baselines/dbus-server.sh + .py: python3-dbus on the GLib main loop). Each starts
// its own dbus-daemon with dbus-server's bus config and policy. Load: one dbus-next connection
// from a process of its own, calls made one after the other, then 10 in flight. The same client
// calling dbus-daemon itself (GetId) shows what the bus costs with no service behind it.
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { bundleOf, inRounds, runLoad, type Context, type Row } from "../lib/context";
import { waitNameOwned } from "../lib/dbus";
import { atLeastTimesBaseline, notMeasured, type Figure } from "../lib/figures";
import { launch, type Proc } from "../lib/processes";
import { baseline, missing, missingPythonModule } from "../lib/tools";

const ROW = "D-Bus GetInfo";
const NAMES = { ours: "dbus-server", baseline: "python3-dbus + GLib", limit: "dbus-daemon alone (GetId, limit)" };
const IN_FLIGHT = [1, 10];
const READY_TIMEOUT_MS = 10_000;

/** dbus-server's own bus config (its includedir brings the org.pantavisor.Example policy). */
export function busConfig(repo: string): string {
  return join(repo, "containers", "dbus-server", "rootfs", "etc", "dbus-1", "pv-example-system.conf");
}

export function missingForDbus(context: Context): string | null {
  if (bundleOf(context, "dbus-server") === null) return "dist/dbus-server/main.js missing (npm run build)";
  if (process.getuid?.() !== 0) return "needs root (the seed's policy lets only root own org.pantavisor.Example)";
  return missing("dbus-daemon", "dbus") ?? missingPythonModule("dbus", "python3-dbus") ?? missingPythonModule("gi", "python3-gi");
}

/** Starts ours or the baseline on `socket`; PV_ROOT keeps dbus-server's machine id in `root`. */
export function launchBusServer(context: Context, side: "ours" | "baseline", socket: string, root: string): Proc {
  if (side === "ours") {
    return launch(NAMES.ours, process.execPath, [bundleOf(context, "dbus-server")!, "--socket", socket, "--config", busConfig(context.repo)], { env: { PV_ROOT: root } });
  }
  return launch(NAMES.baseline, "sh", [baseline(context.repo, "dbus-server.sh"), socket, busConfig(context.repo)]);
}

export const dbusRow: Row = {
  name: "dbus",
  title: ROW,
  async run(context: Context): Promise<Figure[]> {
    const why = missingForDbus(context);
    if (why !== null) return IN_FLIGHT.map((n) => notMeasured(ROW, `calls/s, ${n} in flight`, why, NAMES));

    const dir = mkdtempSync(join(context.scratch, "dbus-"));
    const sockets = { ours: join(dir, "ours", "bus"), baseline: join(dir, "baseline", "bus") };
    const servers: Proc[] = [];
    try {
      for (const side of ["ours", "baseline"] as const) {
        const server = launchBusServer(context, side, sockets[side], join(dir, side));
        servers.push(server);
        await waitNameOwned(sockets[side], server, READY_TIMEOUT_MS);
      }
      const { settings } = context;
      const samples: Record<string, string> = {};
      const figures: Figure[] = [];
      for (const inFlight of IN_FLIGHT) {
        // The limit: the same client calling dbus-daemon itself (on ours's bus), no service behind.
        const calls = { ours: [] as number[], baseline: [] as number[], limit: [] as number[] };
        await inRounds(settings.rounds, ["ours", "baseline", "limit"] as const, async (side) => {
          const load = { socket: sockets[side === "limit" ? "ours" : side], concurrency: inFlight, warmupSeconds: settings.warmupSeconds, seconds: settings.loadSeconds };
          const result = await runLoad(side === "limit" ? "dbus-daemon-calls" : "dbus-calls", load);
          if (result.count === 0) throw new Error(`${NAMES[side]} answered no call in ${settings.loadSeconds} s (${result.errors} errors)`);
          calls[side].push(result.perSecond);
          if (side !== "limit") samples[side] = result.sample;
          context.log(`dbus: ${NAMES[side]}: ${result.perSecond.toFixed(0)} calls/s with ${inFlight} in flight, ${result.errors} errors`);
        });
        const base = { row: ROW, metric: inFlight === 1 ? "calls/s, sequential" : `calls/s, ${inFlight} in flight`, unit: "calls/s", oursName: NAMES.ours, ours: calls.ours, higherIsBetter: true };
        figures.push(
          { ...base, baselineName: NAMES.baseline, baseline: calls.baseline, target: atLeastTimesBaseline(1.1) },
          { ...base, baselineName: NAMES.limit, baseline: calls.limit },
        );
      }
      if (samples.ours !== samples.baseline) figures[0]!.note = `the two services answered differently: ${samples.ours} vs ${samples.baseline}`;
      return figures;
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
    }
  },
};
