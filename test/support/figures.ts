// Figures the hardening suite reports (inputs tried, crashes, leaks, recoveries): each test file
// records rows, and the global teardown prints them as one table after the run.
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { rssMb as residentMb } from "../../mesh/process";

export interface Figure {
  area: string;
  check: string;
  inputs: number;
  crashes: number;
  /** Memory growth in MB that stayed (RSS after minus before), when measured. */
  leakMb?: number;
  recoveries?: number;
  note?: string;
}

const FILE = join(__dirname, "..", "..", "results", "hardening.jsonl");

export function record(figure: Figure): void {
  mkdirSync(join(FILE, ".."), { recursive: true });
  appendFileSync(FILE, JSON.stringify(figure) + "\n");
}

export function resetFigures(): void {
  rmSync(FILE, { force: true });
}

/** The recorded figures as a Markdown table, or "" when none were recorded. */
export function figuresTable(): string {
  if (!existsSync(FILE)) return "";
  const rows = readFileSync(FILE, "utf8").trim().split("\n").map((line) => JSON.parse(line) as Figure);
  rows.sort((a, b) => a.area.localeCompare(b.area));
  const cell = (value: number | string | undefined): string => (value === undefined ? "-" : String(value));
  return [
    "| area | check | inputs | crashes | leak (MB) | recoveries | note |",
    "|---|---|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.area} | ${r.check} | ${r.inputs} | ${r.crashes} | ${cell(r.leakMb)} | ${cell(r.recoveries)} | ${r.note ?? ""} |`),
  ].join("\n");
}

/** VmRSS of a running process in MB, to one decimal, for the figures. */
export function rssMb(pid: number): number {
  const mb = residentMb(pid);
  if (mb === null) throw new Error(`no VmRSS for pid ${pid}: the process is gone`);
  return Math.round(mb * 10) / 10;
}
