// Unix echo: unix-server against upstream's `socat UNIX-LISTEN:...,fork EXEC:/bin/cat`
// (bench/baselines/unix-server.sh), and against the physical limit: a C echo that only polls, reads
// and writes (bench/baselines/echo-limit.c, compiled with cc for this run).
//   - new connections per second: connect, 64-byte echo, close; 10 at a time (Node load generator;
//     the C echo shows what that generator can reach at all);
//   - streaming MB/s on one connection (the C client, the same for all three servers).
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { bundleOf, inRounds, runLoad, type Context, type Row } from "../lib/context";
import { atLeastTimesBaseline, notMeasured, type Figure } from "../lib/figures";
import { launch, waitConnectable, type Proc } from "../lib/processes";
import { baseline, missing } from "../lib/tools";

const ROW = "unix echo";
const CONCURRENCY = 10;
const NAMES = { ours: "unix-server", socat: "socat fork + cat", limit: "C poll + read/write echo (limit)" };
const READY_TIMEOUT_MS = 10_000;

type Side = keyof typeof NAMES;

/** Bytes per second echoed back on one connection, measured by the C stream client. */
async function streamMBps(client: string, socket: string, seconds: number): Promise<number> {
  const { stdout } = await promisify(execFile)(client, ["stream", socket, String(seconds)], { timeout: seconds * 1000 + 10_000 });
  const [bytes, elapsed] = stdout.trim().split(" ").map(Number);
  return bytes! / elapsed! / 1e6;
}

export const echoRow: Row = {
  name: "echo",
  title: ROW,
  async run(context: Context): Promise<Figure[]> {
    const bundle = bundleOf(context, "unix-server");
    const why = bundle === null ? "dist/unix-server/main.js missing (npm run build)" : (missing("socat", "socat") ?? missing("cc", "gcc"));
    if (why !== null) {
      return [
        notMeasured(ROW, "new connections/s", why, { ours: NAMES.ours, baseline: NAMES.socat }),
        notMeasured(ROW, "new connections/s", why, { ours: NAMES.ours, baseline: NAMES.limit }),
        notMeasured(ROW, "streaming MB/s", why, { ours: NAMES.ours, baseline: NAMES.socat }),
        notMeasured(ROW, "streaming MB/s", why, { ours: NAMES.ours, baseline: NAMES.limit }),
      ];
    }

    const dir = mkdtempSync(join(context.scratch, "echo-"));
    const client = join(dir, "echo-limit");
    execFileSync("cc", ["-O2", "-o", client, baseline(context.repo, "echo-limit.c")]);
    const sockets: Record<Side, string> = { ours: join(dir, "ours.sock"), socat: join(dir, "socat.sock"), limit: join(dir, "limit.sock") };
    const servers: Record<Side, Proc> = {
      ours: launch(NAMES.ours, process.execPath, [bundle!, "--socket", sockets.ours]),
      socat: launch(NAMES.socat, "sh", [baseline(context.repo, "unix-server.sh"), sockets.socat]),
      limit: launch(NAMES.limit, client, ["serve", sockets.limit]),
    };
    try {
      for (const side of Object.keys(servers) as Side[]) await waitConnectable(sockets[side], servers[side], READY_TIMEOUT_MS);
      const { settings } = context;
      const connections: Record<Side, number[]> = { ours: [], socat: [], limit: [] };
      const stream: Record<Side, number[]> = { ours: [], socat: [], limit: [] };

      await inRounds(settings.rounds, ["ours", "socat", "limit"] as const, async (side) => {
        const result = await runLoad("echo-connect", { socket: sockets[side], concurrency: CONCURRENCY, warmupSeconds: settings.warmupSeconds, seconds: settings.loadSeconds });
        if (result.count === 0) throw new Error(`${NAMES[side]} completed no echo in ${settings.loadSeconds} s (${result.errors} errors)`);
        connections[side].push(result.perSecond);
        context.log(`echo: ${NAMES[side]}: ${result.perSecond.toFixed(0)} connections/s, ${result.errors} errors`);
      });
      await inRounds(settings.rounds, ["ours", "socat", "limit"] as const, async (side) => {
        const mbps = await streamMBps(client, sockets[side], settings.loadSeconds);
        stream[side].push(mbps);
        context.log(`echo: ${NAMES[side]}: ${mbps.toFixed(0)} MB/s streaming`);
      });

      const base = { row: ROW, oursName: NAMES.ours, higherIsBetter: true };
      return [
        { ...base, metric: `new connections/s, ${CONCURRENCY} at a time`, unit: "conn/s", baselineName: NAMES.socat, ours: connections.ours, baseline: connections.socat, target: atLeastTimesBaseline(20) },
        { ...base, metric: `new connections/s, ${CONCURRENCY} at a time`, unit: "conn/s", baselineName: NAMES.limit, ours: connections.ours, baseline: connections.limit },
        { ...base, metric: "streaming MB/s, one connection", unit: "MB/s", baselineName: NAMES.socat, ours: stream.ours, baseline: stream.socat },
        { ...base, metric: "streaming MB/s, one connection", unit: "MB/s", baselineName: NAMES.limit, ours: stream.ours, baseline: stream.limit, target: atLeastTimesBaseline(0.5, ">= 50% of the limit") },
      ];
    } finally {
      await Promise.all(Object.values(servers).map((server) => server.stop()));
    }
  },
};
