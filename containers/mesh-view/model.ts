// The picture mesh-view draws, made from pv-ctrl's `GET /xconnect-graph`, as plain data: which
// boxes (containers) and arrows (links) there are, where they go, and what each one says. The page
// only draws what it is given (page.html), so everything that decides what a user sees is here and
// is tested without a browser (test/mesh-view-model.test.ts). Three steps, each a function:
//   readGraph    the answer's text -> links, and a problem line for anything it cannot use;
//   track        links of this poll + what was seen before -> each link's status: steady, new,
//                restarted (a pid changed), down (a container is not running) or gone (it left
//                the graph: it stays drawn, dashed, for GONE_KEEP_MS);
//   layout       tracked links (+ the local mesh's per-link counters) -> boxes, arrows, labels.

/** One row of `GET /xconnect-graph` (pv-xconnect's keys). */
export interface GraphLink {
  consumer: string;
  consumer_pid: number;
  provider: string;
  provider_pid: number;
  name: string;
  type: string;
  role: string;
  interface: string;
  target: string | null;
  socket: string;
}

/** One row of the local mesh's `GET /xconnect-counters` (a device's pv-ctrl has none). */
export interface LinkCounters {
  accepted: number;
  open: number;
  bytes_from_consumer: number;
  bytes_to_consumer: number;
  last_error: string | null;
}

export type LinkStatus = "steady" | "new" | "restarted" | "down" | "gone";

export interface TrackedLink {
  link: GraphLink;
  status: LinkStatus;
  /** When the status began (ms since the epoch). */
  since: number;
  /** What changed, for `restarted`: "provider pid 101 -> 202". */
  change?: string;
  /** The last sighting with both containers running, kept through `down` to word a restart. */
  lastRunning?: GraphLink;
}

/** What the page gets: everything already placed and worded. */
export interface Picture {
  width: number;
  height: number;
  boxes: Box[];
  arrows: Arrow[];
  /** Problems to show above the picture (bad graph, missing socket, unknown types...). */
  banners: string[];
  /** Whether the source has per-link counters (the local mesh does, a device does not). */
  counters: boolean;
  /** Text line spacing in the boxes and labels (the page draws with it). */
  lineHeight: number;
  updated: string;
}

export interface Box {
  name: string;
  x: number;
  y: number;
  width: number;
  height: number;
  lines: string[];
  state: "running" | "down" | "gone";
}

export interface Arrow {
  key: string;
  consumer: string;
  provider: string;
  /** The link's own words, whole (the table under the picture lists them). */
  name: string;
  type: string;
  role: string;
  target: string | null;
  /** The counters as one line, when the source has them for this link. */
  counters: string | null;
  status: LinkStatus;
  /** Unknown service type (drawn all the same, and named in a banner). */
  unknownType: boolean;
  /** A cubic Bezier from the consumer's right side to the provider's left side. */
  path: [number, number][];
  /** The label: its lines, centred on labelX, each on its baseline lineY[i]. */
  labelX: number;
  lines: string[];
  lineY: number[];
}

/** The service types pv-xconnect knows (xconnect.md); others are drawn and named in a banner. */
export const KNOWN_TYPES = ["unix", "rest", "dbus", "drm", "wayland"];
/** More links than this are not drawn (a picture of thousands of arrows helps nobody). */
export const MAX_LINKS = 200;
/** Names longer than this are cut in labels (they come from manifests; the full text is in the table). */
export const MAX_LABEL = 44;
/** How long a link that left the graph stays drawn (dashed), and a new or restarted one highlighted. */
export const GONE_KEEP_MS = 60_000;
export const HIGHLIGHT_MS = 15_000;

/** pv-xconnect's key for a link: it rebuilds or keeps links by (consumer, name, target). */
export function linkKey(link: Pick<GraphLink, "consumer" | "name" | "target">): string {
  return JSON.stringify([link.consumer, link.name, link.target]);
}

// --- readGraph --------------------------------------------------------------------------------

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Parses the graph's text. Never throws: what it cannot use becomes a problem line. */
export function readGraph(text: string): { links: GraphLink[]; problems: string[] } {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    return { links: [], problems: [`the graph is not JSON (${(error as Error).message}): ${JSON.stringify(text.slice(0, 60))}`] };
  }
  if (!Array.isArray(document)) {
    return { links: [], problems: [`the graph is not a JSON array (got ${document === null ? "null" : typeof document})`] };
  }
  const problems: string[] = [];
  const links: GraphLink[] = [];
  const unknownTypes = new Set<string>();
  document.forEach((entry: unknown, index) => {
    if (!isObject(entry)) return problems.push(`graph entry ${index} skipped: not an object`);
    const missing = ["consumer", "provider", "name", "type"].filter((key) => typeof entry[key] !== "string" || entry[key] === "");
    if (missing.length > 0) return problems.push(`graph entry ${index} skipped: ${missing.join(", ")} missing or not a string`);
    const text = (key: string, fallback: string): string => (typeof entry[key] === "string" ? (entry[key] as string) : fallback);
    const pid = (key: string): number => (Number.isInteger(entry[key]) ? (entry[key] as number) : -1);
    const link: GraphLink = {
      consumer: entry.consumer as string,
      consumer_pid: pid("consumer_pid"),
      provider: entry.provider as string,
      provider_pid: pid("provider_pid"),
      name: entry.name as string,
      type: entry.type as string,
      role: text("role", "any"),
      interface: text("interface", entry.type as string),
      target: typeof entry.target === "string" ? entry.target : null,
      socket: text("socket", ""),
    };
    if (!KNOWN_TYPES.includes(link.type)) unknownTypes.add(link.type);
    links.push(link);
  });
  for (const type of unknownTypes) problems.push(`unknown service type ${JSON.stringify(type)} (not one of ${KNOWN_TYPES.join(", ")}): its links are drawn dashed`);
  if (links.length > MAX_LINKS) {
    problems.push(`the graph has ${links.length} links: only the first ${MAX_LINKS} are drawn`);
    links.length = MAX_LINKS;
  }
  return { links, problems };
}

/** Parses `GET /xconnect-counters`: counters by link key, or a problem line. */
export function readCounters(text: string): { counters: Map<string, LinkCounters>; problem?: string } {
  const counters = new Map<string, LinkCounters>();
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return { counters, problem: "the link counters are not JSON: shown without them" };
  }
  if (!Array.isArray(document)) return { counters, problem: "the link counters are not a JSON array: shown without them" };
  for (const entry of document) {
    if (!isObject(entry) || typeof entry.consumer !== "string" || typeof entry.name !== "string") continue;
    const count = (key: string): number => (typeof entry[key] === "number" ? (entry[key] as number) : 0);
    counters.set(linkKey({ consumer: entry.consumer, name: entry.name, target: typeof entry.target === "string" ? entry.target : null }), {
      accepted: count("accepted"),
      open: count("open"),
      bytes_from_consumer: count("bytes_from_consumer"),
      bytes_to_consumer: count("bytes_to_consumer"),
      last_error: typeof entry.last_error === "string" ? entry.last_error : null,
    });
  }
  return { counters };
}

// --- track ------------------------------------------------------------------------------------

const running = (link: GraphLink): boolean => link.consumer_pid > 0 && link.provider_pid > 0;

/** What changed between two sightings of the same link, or null when no pid did. */
function pidChange(before: GraphLink, now: GraphLink): string | null {
  const changes: string[] = [];
  if (before.provider_pid !== now.provider_pid) changes.push(`provider pid ${before.provider_pid} -> ${now.provider_pid}`);
  if (before.consumer_pid !== now.consumer_pid) changes.push(`consumer pid ${before.consumer_pid} -> ${now.consumer_pid}`);
  return changes.length > 0 ? changes.join(", ") : null;
}

/**
 * This poll's links, with what happened since the previous poll (`previous`, keyed by linkKey;
 * null on the first poll, when everything is simply there).
 */
export function track(previous: Map<string, TrackedLink> | null, links: GraphLink[], now: number): Map<string, TrackedLink> {
  const next = new Map<string, TrackedLink>();
  for (const link of links) {
    const key = linkKey(link);
    if (next.has(key)) continue; // a duplicate row: pv-xconnect keeps one link per key too
    const before = previous?.get(key);
    const lastRunning = before === undefined ? undefined : running(before.link) ? before.link : before.lastRunning;
    if (!running(link)) {
      next.set(key, { link, status: "down", since: before?.status === "down" ? before.since : now, lastRunning });
    } else if (previous === null) {
      next.set(key, { link, status: "steady", since: now });
    } else if (before === undefined || before.status === "gone") {
      next.set(key, { link, status: "new", since: now });
    } else {
      // A restart seen in two polls (down, then back with a new pid) compares with the last running pids.
      const change = pidChange(lastRunning ?? before.link, link);
      if (change !== null) next.set(key, { link, status: "restarted", since: now, change });
      else if ((before.status === "new" || before.status === "restarted") && now - before.since < HIGHLIGHT_MS) next.set(key, { ...before, link });
      else next.set(key, { link, status: "steady", since: before.status === "steady" ? before.since : now });
    }
  }
  // Links that left the graph stay, dashed, for a while: a user looking away must still see them go.
  for (const [key, before] of previous ?? []) {
    if (next.has(key)) continue;
    if (before.status !== "gone") next.set(key, { link: before.link, status: "gone", since: now });
    else if (now - before.since < GONE_KEEP_MS) next.set(key, before);
  }
  return next;
}

// --- layout -----------------------------------------------------------------------------------

export const BOX_WIDTH = 200;
export const COLUMN_GAP = 320;
const MARGIN = 24;
const BOX_GAP = 28;
const LINE_HEIGHT = 15;
const PORT_SPACING = 22;
/** A label's first lines (service, target) go above its arrow; the others below, this far apart. */
const LINES_ABOVE = 2;
const ARROW_CLEARANCE = 8;

/** `text` cut to MAX_LABEL characters (labels only: the table below the picture has it whole). */
export function cut(text: string): string {
  return text.length > MAX_LABEL ? `${text.slice(0, MAX_LABEL - 1)}…` : text;
}

function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19) + " UTC";
}

function bytes(count: number): string {
  if (count < 1024) return `${count} B`;
  if (count < 1024 * 1024) return `${(count / 1024).toFixed(1)} kB`;
  return `${(count / 1024 / 1024).toFixed(1)} MB`;
}

/** The counters in one line: connections, and bytes from (in) and to (out) the consumer. */
export function countersLine(counters: LinkCounters): string {
  return `${counters.accepted} conn (${counters.open} open) · in ${bytes(counters.bytes_from_consumer)} · out ${bytes(counters.bytes_to_consumer)}`;
}

/** The words on a link's arrow. */
export function arrowLines(tracked: TrackedLink, counters: LinkCounters | undefined): string[] {
  const { link } = tracked;
  const lines = [cut(`${link.name} · ${link.type} · role ${link.role}`), cut(`-> ${link.target ?? "(no target)"}`)];
  if (counters !== undefined) {
    lines.push(countersLine(counters));
    if (counters.last_error !== null) lines.push(cut(`last error: ${counters.last_error}`));
  }
  if (tracked.status === "restarted") lines.push(`restarted at ${clock(tracked.since)}`, `${tracked.change}`);
  if (tracked.status === "new") lines.push(`new at ${clock(tracked.since)}`);
  if (tracked.status === "gone") lines.push(`gone at ${clock(tracked.since)}`);
  if (tracked.status === "down") lines.push(`down: ${link.consumer_pid > 0 ? "provider" : link.provider_pid > 0 ? "consumer" : "both"} not running`);
  return lines;
}

interface Container {
  name: string;
  pid: number;
  provides: Set<string>;
  consumes: Set<string>;
  /** Every link it takes part in, still in the graph or not. */
  links: TrackedLink[];
}

/**
 * Columns: consumers on the left, providers on the right, each container one column left of the
 * furthest provider it uses (rank = the length of the longest chain of providers behind it), so
 * requests flow left to right. A cycle stops the ranking after as many rounds as there are boxes.
 */
function ranks(containers: Map<string, Container>, links: TrackedLink[]): Map<string, number> {
  const rank = new Map([...containers.keys()].map((name) => [name, 0]));
  for (let round = 0; round < containers.size; round++) {
    let changed = false;
    for (const { link } of links) {
      if (link.consumer === link.provider) continue;
      const wanted = rank.get(link.provider)! + 1;
      if (rank.get(link.consumer)! < wanted) {
        rank.set(link.consumer, wanted);
        changed = true;
      }
    }
    if (!changed) break;
  }
  return rank;
}

export function layout(tracked: Map<string, TrackedLink>, counters: Map<string, LinkCounters> | null, banners: string[], now: number): Picture {
  const links = [...tracked.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, t]) => t);
  const containers = new Map<string, Container>();
  const containerOf = (name: string): Container => {
    let container = containers.get(name);
    if (container === undefined) containers.set(name, (container = { name, pid: -1, provides: new Set(), consumes: new Set(), links: [] }));
    return container;
  };
  for (const t of links) {
    const consumer = containerOf(t.link.consumer);
    const provider = containerOf(t.link.provider);
    consumer.consumes.add(t.link.name);
    provider.provides.add(t.link.name);
    consumer.links.push(t);
    if (provider !== consumer) provider.links.push(t);
    // Pids come from links still in the graph; a container seen only in gone links has none.
    if (t.status !== "gone") {
      consumer.pid = Math.max(consumer.pid, t.link.consumer_pid);
      provider.pid = Math.max(provider.pid, t.link.provider_pid);
    }
  }

  const rank = ranks(containers, links);
  const maxRank = Math.max(0, ...rank.values());
  const columns: Container[][] = Array.from({ length: maxRank + 1 }, () => []);
  for (const container of containers.values()) columns[maxRank - rank.get(container.name)!]!.push(container);

  // Rows: the rightmost column (providers) by name; each column to its left ordered by where its
  // containers' providers are (their mean row), which keeps arrows short and mostly level.
  const row = new Map<string, number>();
  for (let c = columns.length - 1; c >= 0; c--) {
    const column = columns[c]!;
    const weight = (container: Container): number => {
      const rows = container.links.filter((t) => t.link.consumer === container.name).map((t) => row.get(t.link.provider)).filter((r): r is number => r !== undefined);
      return rows.length > 0 ? rows.reduce((a, b) => a + b, 0) / rows.length : Infinity;
    };
    column.sort((a, b) => weight(a) - weight(b) || a.name.localeCompare(b.name));
    column.forEach((container, i) => row.set(container.name, i));
  }

  const boxes = new Map<string, Box>();
  // Two lines (name, pid) and one per role (provides..., uses...), or more room for many ports.
  const textLines = (container: Container): number => 2 + (container.provides.size > 0 ? 1 : 0) + (container.consumes.size > 0 ? 1 : 0);
  const heightOf = (container: Container): number => Math.max(textLines(container) * LINE_HEIGHT + 16, 14 + container.links.length * PORT_SPACING);
  const columnHeights = columns.map((column) => column.reduce((sum, container) => sum + heightOf(container), 0) + BOX_GAP * Math.max(0, column.length - 1));
  const tallest = Math.max(0, ...columnHeights);
  columns.forEach((column, c) => {
    let y = MARGIN + (tallest - columnHeights[c]!) / 2;
    for (const container of column) {
      const allGone = container.links.every((t) => t.status === "gone");
      const roles = [
        container.provides.size > 0 ? `provides ${[...container.provides].join(", ")}` : "",
        container.consumes.size > 0 ? `uses ${[...container.consumes].join(", ")}` : "",
      ].filter(Boolean);
      boxes.set(container.name, {
        name: container.name,
        x: MARGIN + c * (BOX_WIDTH + COLUMN_GAP),
        y,
        width: BOX_WIDTH,
        height: heightOf(container),
        lines: [cut(container.name), allGone ? "gone from the graph" : container.pid > 0 ? `pid ${container.pid}` : "not running", ...roles.map(cut)],
        state: allGone ? "gone" : container.pid > 0 ? "running" : "down",
      });
      y += heightOf(container) + BOX_GAP;
    }
  });

  // Ports: each box spreads its links along its side, ordered by where the other end is.
  const port = new Map<string, number>(); // `${side}|${key}` -> y
  for (const container of containers.values()) {
    const box = boxes.get(container.name)!;
    for (const side of ["out", "in"] as const) {
      const mine = container.links.filter((t) => (side === "out" ? t.link.consumer : t.link.provider) === container.name);
      const otherY = (t: TrackedLink): number => boxes.get(side === "out" ? t.link.provider : t.link.consumer)!.y;
      mine.sort((a, b) => otherY(a) - otherY(b) || linkKey(a.link).localeCompare(linkKey(b.link)));
      mine.forEach((t, i) => port.set(`${side}|${linkKey(t.link)}`, box.y + ((i + 1) * box.height) / (mine.length + 1)));
    }
  }

  const arrows: Arrow[] = links.map((t) => {
    const key = linkKey(t.link);
    const from = boxes.get(t.link.consumer)!;
    const to = boxes.get(t.link.provider)!;
    const x1 = from.x + from.width;
    const y1 = port.get(`out|${key}`)!;
    const x2 = to.x;
    const y2 = port.get(`in|${key}`)!;
    const bend = Math.max(60, Math.abs(x2 - x1) / 2);
    const counted = t.status === "gone" ? undefined : counters?.get(key);
    const lines = arrowLines(t, counted);
    return {
      key,
      consumer: t.link.consumer,
      provider: t.link.provider,
      name: t.link.name,
      type: t.link.type,
      role: t.link.role,
      target: t.link.target,
      counters: counted === undefined ? null : `${countersLine(counted)}${counted.last_error === null ? "" : ` · last error: ${counted.last_error}`}`,
      status: t.status,
      unknownType: !KNOWN_TYPES.includes(t.link.type),
      path: [[x1, y1], [x1 + bend, y1], [x2 - bend, y2], [x2, y2]],
      labelX: (x1 + x2) / 2,
      lines,
      lineY: [],
    };
  });

  // Labels sit at their arrow's middle: service and target above the arrow, the rest below it.
  // Arrows between the same two columns share a middle x: there, a label that would overlap the
  // one above moves down.
  const labelHeight = (arrow: Arrow): number => arrow.lines.length * LINE_HEIGHT + (arrow.lines.length > LINES_ABOVE ? ARROW_CLEARANCE : 0);
  const middleY = new Map(arrows.map((arrow) => [arrow, (arrow.path[0][1] + arrow.path[3][1]) / 2]));
  const byColumnGap = new Map<number, Arrow[]>();
  for (const arrow of arrows) byColumnGap.set(arrow.labelX, [...(byColumnGap.get(arrow.labelX) ?? []), arrow]);
  for (const group of byColumnGap.values()) {
    group.sort((a, b) => middleY.get(a)! - middleY.get(b)!);
    let bottom = 0;
    for (const arrow of group) {
      const top = Math.max(middleY.get(arrow)! - LINES_ABOVE * LINE_HEIGHT - ARROW_CLEARANCE / 2, bottom + 6);
      arrow.lineY = arrow.lines.map((_, i) => top + (i + 1) * LINE_HEIGHT - 3 + (i >= LINES_ABOVE ? ARROW_CLEARANCE : 0));
      bottom = top + labelHeight(arrow);
    }
  }

  const width = MARGIN * 2 + columns.length * BOX_WIDTH + Math.max(0, columns.length - 1) * COLUMN_GAP;
  const labelsBottom = Math.max(0, ...arrows.map((a) => a.lineY.at(-1)! + 3));
  return {
    width,
    height: Math.ceil(Math.max(MARGIN * 2 + tallest, labelsBottom + MARGIN)),
    boxes: [...boxes.values()],
    arrows,
    banners,
    counters: counters !== null,
    lineHeight: LINE_HEIGHT,
    updated: new Date(now).toISOString(),
  };
}
