// What every row produces: figures, each one ours against its baseline measured in the same run.
// Each figure keeps every round's value; the table shows medians and the ratio ours / baseline.
import { median } from "./stats";

export interface Target {
  /** As the issue states it, e.g. ">= 5x baseline" or "<= 150 ms". */
  text: string;
  /** Whether the measured figure meets it. */
  met(figure: Figure): boolean;
}

export interface Figure {
  /** The path measured, e.g. "REST GET /info". */
  row: string;
  /** What was measured, with its unit, e.g. "requests/s, 10 connections". */
  metric: string;
  unit: string;
  /** The program measured (ours) and what it is compared with. */
  oursName: string;
  baselineName: string;
  /** One value per round. Empty when not measured (then `note` says why). */
  ours: number[];
  baseline: number[];
  higherIsBetter: boolean;
  target?: Target;
  /** "not measured: ..." or a remark shown under the table. */
  note?: string;
}

/** The serialised form (results/bench/*.json): medians, ratio and verdict resolved. */
export interface FigureResult {
  row: string;
  metric: string;
  unit: string;
  oursName: string;
  baselineName: string;
  ours: number | null;
  baseline: number | null;
  /** The lowest and highest value over the rounds. */
  oursRange: [number, number] | null;
  baselineRange: [number, number] | null;
  /** ours / baseline (both medians), when both exist. */
  ratio: number | null;
  /** The lowest and highest ours / baseline of one round, when both sides ran the same rounds. */
  ratioRange: [number, number] | null;
  higherIsBetter: boolean;
  target: string | null;
  met: boolean | null;
  note: string | null;
  rounds: { ours: number[]; baseline: number[] };
}

export function oursMedian(figure: Figure): number | null {
  return figure.ours.length > 0 ? median(figure.ours) : null;
}

export function baselineMedian(figure: Figure): number | null {
  return figure.baseline.length > 0 ? median(figure.baseline) : null;
}

function range(values: number[]): [number, number] | null {
  return values.length > 0 ? [Math.min(...values), Math.max(...values)] : null;
}

/** Each round's ours / baseline: the two sides of a round ran back to back, so the pair compares. */
function roundRatios(figure: Figure): number[] {
  if (figure.ours.length !== figure.baseline.length) return [];
  return figure.ours.map((ours, i) => ours / figure.baseline[i]!).filter(Number.isFinite);
}

export function ratio(figure: Figure): number | null {
  const [ours, baseline] = [oursMedian(figure), baselineMedian(figure)];
  return ours !== null && baseline !== null && baseline !== 0 ? ours / baseline : null;
}

export function resolve(figure: Figure): FigureResult {
  const ours = oursMedian(figure);
  return {
    row: figure.row,
    metric: figure.metric,
    unit: figure.unit,
    oursName: figure.oursName,
    baselineName: figure.baselineName,
    ours,
    baseline: baselineMedian(figure),
    oursRange: range(figure.ours),
    baselineRange: range(figure.baseline),
    ratio: ratio(figure),
    ratioRange: range(roundRatios(figure)),
    higherIsBetter: figure.higherIsBetter,
    target: figure.target?.text ?? null,
    met: figure.target && ours !== null ? figure.target.met(figure) : null,
    note: figure.note ?? null,
    rounds: { ours: figure.ours, baseline: figure.baseline },
  };
}

/** A figure that could not be measured, and why (the row still appears in the table). */
export function notMeasured(row: string, metric: string, why: string, names: { ours: string; baseline: string }): Figure {
  return { row, metric, unit: "", oursName: names.ours, baselineName: names.baseline, ours: [], baseline: [], higherIsBetter: true, note: `not measured: ${why}` };
}

// --- targets ------------------------------------------------------------------------------------

export const atLeastTimesBaseline = (factor: number, text = `>= ${factor}x baseline`): Target => ({
  text,
  met: (f) => (ratio(f) ?? 0) >= factor,
});

export const atMostTimesBaseline = (factor: number): Target => ({
  text: `<= ${factor}x baseline`,
  met: (f) => (ratio(f) ?? Infinity) <= factor,
});

export const atMost = (limit: number, unit: string): Target => ({
  text: `<= ${limit} ${unit}`,
  met: (f) => (oursMedian(f) ?? Infinity) <= limit,
});

/** Ours at most `margin` above the baseline (medians): memory beside a bare runtime. */
export const withinOfBaseline = (margin: number, unit: string): Target => ({
  text: `<= baseline + ${margin} ${unit}`,
  met: (f) => {
    const [ours, baseline] = [oursMedian(f), baselineMedian(f)];
    return ours !== null && baseline !== null && ours - baseline <= margin;
  },
});
