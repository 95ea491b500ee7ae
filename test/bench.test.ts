// The benchmark runner in quick mode, as CI runs it so the bench never rots: the built bundle
// (dist/bench/main.js) runs every row against its baseline for a few seconds. Asserted: every row
// produced its numbers, and the table was printed and written as Markdown and JSON. Never timings:
// whether a target is met is the bench's report, not a test verdict.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FigureResult } from "../bench/lib/figures";
import type { Report } from "../bench/lib/report";
import { bundle, tempDir } from "./support/bundles";
import { onPath } from "../mesh/process";

const ROWS = ["REST GET /info", "unix echo", "D-Bus GetInfo", "D-Bus GetInfo through the documented mesh", "spawn to ready", "mesh stand-in overhead", "Wayland", "bundle size"];
const RUN_TIMEOUT_MS = 90_000;

/** Rows whose system tools are missing here: those may say "not measured", and the test says why. */
function unavailableRows(): Map<string, string> {
  const python = (module: string): boolean => spawnSync("/usr/bin/python3", ["-c", `import ${module}`]).status === 0;
  const rows = new Map<string, string>();
  if (!onPath("/usr/bin/python3")) rows.set("REST GET /info", "no /usr/bin/python3");
  if (!onPath("socat") || !onPath("cc")) rows.set("unix echo", "socat or cc missing (apt-get install socat gcc)");
  if (!onPath("dbus-daemon") || !python("dbus") || !python("gi")) rows.set("D-Bus GetInfo", "dbus-daemon, python3-dbus or python3-gi missing");
  if (!onPath("dbus-daemon") || process.getuid?.() !== 0) rows.set("D-Bus GetInfo through the documented mesh", "needs dbus-daemon and root (the seed's policy, the role's uid)");
  if (!onPath("weston") || !onPath("weston-simple-shm")) rows.set("Wayland", "weston missing (apt-get install weston)");
  return rows;
}

describe("bench --quick", () => {
  const out = tempDir("pv-bench-test-");
  const unavailable = unavailableRows();
  let stdout = "";
  let status: number | null = null;

  beforeAll(async () => {
    for (const [row, why] of unavailable) console.warn(`bench test: row "${row}" may be unmeasured here: ${why}`);
    const child = spawn(process.execPath, [bundle("bench"), "--quick", "--out", out.path], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    // SIGTERM lets the bench stop the servers it started; SIGKILL if it does not exit soon after.
    const timer = setTimeout(() => {
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 5000).unref();
    }, RUN_TIMEOUT_MS);
    status = await new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    clearTimeout(timer);
    if (status !== 0) console.error(`bench --quick exited ${status}:\n${stdout}\n${stderr}`);
  }, RUN_TIMEOUT_MS + 10_000);

  afterAll(() => out.remove());

  it("exits 0 (every row ran)", () => {
    expect(status).toBe(0);
  });

  it("writes the table as JSON, with a number for every figure of every row", () => {
    const report = JSON.parse(readFileSync(join(out.path, "latest.json"), "utf8")) as Report;
    expect(report.settings.quick).toBe(true);
    expect(report.machine.cores).toBeGreaterThan(0);
    expect([...new Set(report.figures.map((f) => f.row))]).toEqual(ROWS);
    const measured = (f: FigureResult): boolean => f.ours !== null && Number.isFinite(f.ours) && (f.baselineName === "-" || (f.baseline !== null && Number.isFinite(f.baseline)));
    const missing = report.figures.filter((f) => !measured(f) && !unavailable.has(f.row)).map((f) => `${f.row} / ${f.metric}: ${f.note}`);
    expect(missing).toEqual([]);
    // A figure with a baseline has its ratio; one with a target has a verdict.
    for (const figure of report.figures.filter(measured)) {
      if (figure.baselineName !== "-" && figure.baseline !== 0) expect(figure.ratio, `${figure.row} / ${figure.metric}`).not.toBeNull();
      if (figure.target !== null) expect(typeof figure.met, `${figure.row} / ${figure.metric}`).toBe("boolean");
    }
  });

  it("writes the same table as Markdown and prints it", () => {
    const markdown = readFileSync(join(out.path, "latest.md"), "utf8");
    const report = JSON.parse(readFileSync(join(out.path, "latest.json"), "utf8")) as Report;
    expect(markdown).toMatch(/^Machine: .+ cores/m);
    expect(markdown).toMatch(/^\| path \| metric \| program \| baseline program \| ours \| baseline \| ratio \| target \| met \|$/m);
    // One table line per figure, in the same order as the JSON.
    const lines = markdown.split("\n").filter((line) => line.startsWith("| ") && !line.startsWith("| path") && !line.startsWith("| ---"));
    expect(lines.map((line) => line.split(" | ")[1])).toEqual(report.figures.map((f) => f.metric));
    for (const row of ROWS) expect(stdout).toContain(row);
    expect(stdout).toContain("ratio = ours / baseline");
    expect(existsSync(join(out.path, `bench-${report.startedAt.replace(/[:.]/g, "-")}.md`))).toBe(true);
  });
});
