// bench: every example measured side by side against an upstream-style baseline, in the same run.
//
// Each row starts our program and its baseline (bench/baselines/: the upstream examples' Python,
// shell + socat, written the same way), drives both with the same load generator running in a
// process of its own, alternates them round after round, and reports medians and the ratio
// ours / baseline, because on a shared machine only a ratio measured in the same run means much.
// The table is printed and written to results/bench/ as Markdown and JSON (latest.* and a dated
// copy). What each row measures: bench/README.md.
//
// Run:  npm run bench [-- --quick] [-- --only ROW ...]   (set-up + build + this bundle)
//       npm run bench -- --soak MINUTES                    (the demo's mesh for that long: bench/soak.ts)
//       node dist/bench/main.js [--quick] [--only ROW] [--soak MINUTES] [--out DIR]
//       --quick: one short round per figure: CI runs it so the bench never rots; its numbers are a
//                smoke test, not a measurement. CI also runs `--soak 1 --quick`.
// Exit: 0 when every row produced its figures (targets missed are reported, not failures);
//       1 when a row failed.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findRepoRoot } from "../mesh/xconnect";
import { parseCommandLine, positiveNumber, UsageError } from "../shared/cli";
import { FatalError, runMain } from "../shared/run";
import { LOADS, type LoadOptions } from "./load";
import { FULL, QUICK, type Context, type Row } from "./lib/context";
import { notMeasured, resolve, type Figure } from "./lib/figures";
import { stopOnSignal } from "./lib/processes";
import { machine, markdownTable, textTable, type Report } from "./lib/report";
import { dbusRow } from "./rows/dbus";
import { dbusMeshRow } from "./rows/dbus-mesh";
import { echoRow } from "./rows/echo";
import { memoryRow } from "./rows/memory";
import { meshRow } from "./rows/mesh";
import { restRow } from "./rows/rest";
import { sizeRow } from "./rows/size";
import { spawnRow } from "./rows/spawn";
import { waylandRow } from "./rows/wayland";
import { runSoak } from "./soak";

const ROWS: Row[] = [restRow, echoRow, dbusRow, dbusMeshRow, spawnRow, memoryRow, meshRow, waylandRow, sizeRow];
const RESULTS_DIR = "results/bench";

/** --worker KIND --options JSON: be a load generator and print one JSON line (see load.ts). */
async function worker(kind: string, options: string | undefined): Promise<number> {
  const load = LOADS[kind];
  if (load === undefined || options === undefined) throw new FatalError(`--worker needs one of ${Object.keys(LOADS).join(", ")} and --options JSON`);
  const result = await load(JSON.parse(options) as LoadOptions);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  return 0;
}

async function main(): Promise<number> {
  const names = ROWS.map((row) => row.name);
  const { values } = parseCommandLine({
    name: "bench",
    summary: "Measures every example beside an upstream-style baseline in the same run and reports ratios (bench/README.md).",
    options: {
      quick: { type: "boolean", help: "one short round per figure: a smoke test that the bench still runs, not a measurement" },
      only: { type: "string", value: "ROW", multiple: true, help: `run only this row (${names.join(", ")})` },
      soak: { type: "string", value: "MINUTES", help: "instead of the rows: run the demo's mesh for this long and report each program's memory over time" },
      out: { type: "string", value: "DIR", default: RESULTS_DIR, help: "where latest.md / latest.json and dated copies go" },
      worker: { type: "string", value: "KIND", help: "internal: be a load generator (the bench starts these itself)" },
      options: { type: "string", value: "JSON", help: "internal: the load generator's options" },
    },
    examples: ["npm run bench -- --quick", "npm run bench -- --only rest --only echo", "npm run bench -- --soak 60"],
  });
  if (values.worker !== undefined) return worker(values.worker, values.options);

  const unknown = (values.only ?? []).filter((name) => !names.includes(name));
  if (unknown.length > 0) throw new UsageError(`unknown row ${unknown.join(", ")} (rows: ${names.join(", ")})`);
  if (values.soak !== undefined && values.only !== undefined) throw new UsageError("--soak runs instead of the rows: leave out --only");
  const soakMinutes = values.soak === undefined ? null : positiveNumber("soak", values.soak);
  const rows = values.only ? ROWS.filter((row) => values.only!.includes(row.name)) : ROWS;
  const repo = findRepoRoot();
  const outDir = values.out === RESULTS_DIR ? join(repo, RESULTS_DIR) : values.out;
  const settings = values.quick ? QUICK : FULL;
  stopOnSignal();
  const scratch = mkdtempSync(join(tmpdir(), "pv-bench-"));
  const context: Context = { repo, settings, scratch, log: (line) => process.stderr.write(`  ${line}\n`) };
  const started = new Date();
  const figures: Figure[] = [];
  let soak: Report["soak"];
  let failures = 0;
  try {
    if (soakMinutes !== null) {
      console.log(`bench: soak of ${soakMinutes} min${settings.quick ? " (quick)" : ""}; results in ${outDir}`);
      // A program that exits, or never warms up, is what a soak is there to find: one line, exit 1.
      soak = await runSoak(context, soakMinutes).catch((error: unknown) => {
        throw new FatalError(`soak: ${error instanceof Error ? error.message : String(error)}`);
      });
    } else {
      console.log(`bench: ${rows.map((row) => row.name).join(", ")}${settings.quick ? " (quick)" : ""}; results in ${outDir}`);
    }
    for (const row of soakMinutes === null ? rows : []) {
      console.log(`bench: ${row.name}...`);
      try {
        figures.push(...(await row.run(context)));
      } catch (error) {
        // One broken row must not hide the others: it appears in the table with its reason.
        failures++;
        const reason = error instanceof Error ? error.message : String(error);
        console.error(`bench: ${row.name} FAILED: ${reason}`);
        figures.push(notMeasured(row.title, "(row failed)", `FAILED: ${reason}`, { ours: "-", baseline: "-" }));
      }
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }

  const report: Report = {
    startedAt: started.toISOString(),
    seconds: (Date.now() - started.getTime()) / 1000,
    machine: machine(),
    settings,
    figures: figures.map(resolve),
    ...(soak ? { soak } : {}),
  };
  mkdirSync(outDir, { recursive: true });
  const stamp = report.startedAt.replace(/[:.]/g, "-");
  // A soak has results of its own: it leaves the latest full table alone.
  const [latest, dated] = soak ? ["soak-latest", `soak-${stamp}`] : ["latest", `bench-${stamp}`];
  for (const name of [latest, dated]) {
    writeFileSync(join(outDir, `${name}.json`), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(join(outDir, `${name}.md`), `${markdownTable(report)}\n`);
  }
  console.log(`\n${textTable(report)}\n`);
  console.log(`bench: wrote ${join(outDir, `${latest}.md`)} and ${join(outDir, `${latest}.json`)}`);
  return failures === 0 ? 0 : 1;
}

if (require.main === module) runMain(main);
