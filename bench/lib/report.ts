// The one table: printed on the terminal, and written as Markdown and JSON under results/bench/.
import { readFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import type { FigureResult } from "./figures";
import type { Settings } from "./context";
import { formatNumber } from "./stats";

export interface Machine {
  cpu: string;
  cores: number;
  memoryGb: number;
  os: string;
  kernel: string;
  node: string;
}

export interface Report {
  startedAt: string;
  seconds: number;
  machine: Machine;
  settings: Settings;
  figures: FigureResult[];
}

export function machine(): Machine {
  let os = "Linux";
  try {
    os = /^PRETTY_NAME="?([^"\n]*)/m.exec(readFileSync("/etc/os-release", "utf8"))?.[1] ?? os;
  } catch {
    // Not every system has it; "Linux" will do.
  }
  return {
    cpu: cpus()[0]?.model.trim() ?? "unknown",
    cores: cpus().length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    os,
    kernel: release(),
    node: process.version,
  };
}

const HEADER = ["path", "metric", "program", "baseline program", "ours", "baseline", "ratio", "target", "met"];

function cells(figure: FigureResult): string[] {
  const verdict = figure.met === null ? "" : figure.met ? "yes" : "NO";
  return [
    figure.row,
    figure.metric,
    figure.oursName,
    figure.baselineName,
    figure.ours === null ? "not measured" : formatNumber(figure.ours),
    formatNumber(figure.baseline),
    figure.ratio === null ? "-" : `${figure.ratio.toFixed(2)}x`,
    figure.target ?? "",
    verdict,
  ];
}

export function describeMachine(m: Machine): string {
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB, ${m.os}, kernel ${m.kernel}, Node ${m.node}`;
}

function runLine(report: Report): string {
  const mode = report.settings.quick ? "quick (1 round, short windows: a smoke test, not a measurement)" : `${report.settings.rounds} rounds, medians`;
  return `${report.startedAt}, ${mode}, ${report.seconds.toFixed(0)} s`;
}

/** Columns padded to width: what the terminal shows. */
export function textTable(report: Report): string {
  const rows = [HEADER, ...report.figures.map(cells)];
  const widths = HEADER.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: string[]): string => row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd();
  const notes = report.figures.filter((f) => f.note !== null).map((f) => `${f.row}, ${f.metric}: ${f.note}`);
  return [
    `machine: ${describeMachine(report.machine)}`,
    `run: ${runLine(report)}`,
    "",
    line(rows[0]!),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...rows.slice(1).map(line),
    "",
    "ratio = ours / baseline (medians); for latency, time and memory lower is better.",
    ...(notes.length > 0 ? ["", "notes:", ...notes.map((note) => `  ${note}`)] : []),
  ].join("\n");
}

export function markdownTable(report: Report): string {
  const escape = (cell: string): string => cell.replace(/\|/g, "\\|");
  const row = (values: string[]): string => `| ${values.map(escape).join(" | ")} |`;
  const notes = report.figures.filter((f) => f.note !== null).map((f) => `- ${f.row}, ${f.metric}: ${f.note}`);
  return [
    `Machine: ${describeMachine(report.machine)}  `,
    `Run: ${runLine(report)}`,
    "",
    row(HEADER),
    row(HEADER.map(() => "---")),
    ...report.figures.map((figure) => row(cells(figure))),
    "",
    "ratio = ours / baseline (medians); for latency, time and memory lower is better.",
    ...(notes.length > 0 ? ["", ...notes] : []),
  ].join("\n");
}
