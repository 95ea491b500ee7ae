// The one table: printed on the terminal, and written as Markdown and JSON under results/bench/.
import { readFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import type { SoakResult } from "../soak";
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
  /** A soak run (--soak MINUTES) instead of the rows. */
  soak?: SoakResult;
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

const HEADER = ["path", "metric", "program", "baseline program", "ours", "ours min-max", "baseline", "baseline min-max", "ratio", "ratio min-max", "target", "met"];

const LEGEND = "ratio = ours / baseline (medians); ratio min-max: the lowest and highest of one round's ours / baseline. For latency, time and memory lower is better; \"met\" judges the medians.";

const times = (value: number): string => `${value.toFixed(2)}x`;

/** "low-high" over the rounds; "-" when there is none, and nothing to add for a single round. */
function spread(range: [number, number] | null, format: (value: number) => string): string {
  if (range === null) return "-";
  return range[0] === range[1] ? format(range[0]) : `${format(range[0])}-${format(range[1])}`;
}

function cells(figure: FigureResult): string[] {
  const verdict = figure.met === null ? "" : figure.met ? "yes" : "NO";
  return [
    figure.row,
    figure.metric,
    figure.oursName,
    figure.baselineName,
    figure.ours === null ? "not measured" : formatNumber(figure.ours),
    spread(figure.oursRange, formatNumber),
    formatNumber(figure.baseline),
    spread(figure.baselineRange, formatNumber),
    figure.ratio === null ? "-" : times(figure.ratio),
    spread(figure.ratioRange, times),
    figure.target ?? "",
    verdict,
  ];
}

export function describeMachine(m: Machine): string {
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB, ${m.os}, kernel ${m.kernel}, Node ${m.node}`;
}

function runLine(report: Report): string {
  if (report.soak) return `${report.startedAt}, soak of ${report.soak.minutes} min${report.settings.quick ? " (quick: a smoke test)" : ""}, ${report.seconds.toFixed(0)} s`;
  const mode = report.settings.quick ? "quick (1 round, short windows: a smoke test, not a measurement)" : `${report.settings.rounds} rounds, medians and min-max over the rounds`;
  return `${report.startedAt}, ${mode}, ${report.seconds.toFixed(0)} s`;
}

const SOAK_HEADER = ["program", "RSS at start", "after warm-up", "at end", "max", "growth after warm-up", "exchanges after warm-up", "growth per 1,000 exchanges", "met"];

function soakCells(soak: SoakResult): string[][] {
  return soak.programs.map((p) => [
    p.program,
    formatNumber(p.rssStartMb),
    formatNumber(p.rssAfterWarmupMb),
    formatNumber(p.rssEndMb),
    formatNumber(p.rssMaxMb),
    p.growthMb.toFixed(2),
    Math.round(p.exchangesAfterWarmup).toLocaleString("en-US"),
    p.growthPer1000Mb === null ? "-" : p.growthPer1000Mb.toFixed(3),
    p.met ? "yes" : "NO",
  ]);
}

function soakLegend(soak: SoakResult): string {
  return (
    `MB (VmRSS of each program's own process). Warm-up: the first ${formatNumber(soak.warmupMinutes)} min; a sample every ${soak.sampleSeconds} s (${soak.samples} in all). ` +
    `Growth after warm-up: the least-squares line through the samples from the end of the warm-up on, over that span. Target: ${soak.target}.`
  );
}

/** Columns padded to width, as the terminal shows them. */
function padded(header: string[], body: string[][]): string[] {
  const rows = [header, ...body];
  const widths = header.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: string[]): string => row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)];
}

function markdownRows(header: string[], body: string[][]): string[] {
  const escape = (cell: string): string => cell.replace(/\|/g, "\\|");
  const row = (values: string[]): string => `| ${values.map(escape).join(" | ")} |`;
  return [row(header), row(header.map(() => "---")), ...body.map(row)];
}

/** Columns padded to width: what the terminal shows. */
export function textTable(report: Report): string {
  const head = [`machine: ${describeMachine(report.machine)}`, `run: ${runLine(report)}`, ""];
  if (report.soak) return [...head, ...padded(SOAK_HEADER, soakCells(report.soak)), "", soakLegend(report.soak)].join("\n");
  const notes = report.figures.filter((f) => f.note !== null).map((f) => `  ${f.row}, ${f.metric}: ${f.note}`);
  return [...head, ...padded(HEADER, report.figures.map(cells)), "", LEGEND, ...(notes.length > 0 ? ["", "notes:", ...notes] : [])].join("\n");
}

export function markdownTable(report: Report): string {
  const head = [`Machine: ${describeMachine(report.machine)}  `, `Run: ${runLine(report)}`, ""];
  if (report.soak) return [...head, ...markdownRows(SOAK_HEADER, soakCells(report.soak)), "", soakLegend(report.soak)].join("\n");
  const notes = report.figures.filter((f) => f.note !== null).map((f) => `- ${f.row}, ${f.metric}: ${f.note}`);
  return [...head, ...markdownRows(HEADER, report.figures.map(cells)), "", LEGEND, ...(notes.length > 0 ? ["", ...notes] : [])].join("\n");
}
