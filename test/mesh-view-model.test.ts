// mesh-view's picture, without a browser: what the graph's text becomes (links and problem lines),
// what changed between two polls (new, restarted, down, gone), and where boxes, arrows and labels go.
import { describe, expect, it } from "vitest";
import {
  BOX_WIDTH,
  GONE_KEEP_MS,
  HIGHLIGHT_MS,
  layout,
  linkKey,
  MAX_LABEL,
  MAX_LINKS,
  readCounters,
  readGraph,
  track,
  type GraphLink,
  type LinkCounters,
  type Picture,
} from "../containers/mesh-view/model";

function link(consumer: string, provider: string, name: string, extra: Partial<GraphLink> = {}): GraphLink {
  return {
    consumer,
    consumer_pid: 100,
    provider,
    provider_pid: 200,
    name,
    type: "unix",
    role: "any",
    interface: "unix",
    target: `/run/pv/services/${name}.sock`,
    socket: `/run/example/${name}.sock`,
    ...extra,
  };
}

const UNIX = link("unix-client", "unix-server", "raw");
const REST = link("rest-client", "rest-server", "api", { type: "rest", consumer_pid: 101, provider_pid: 201 });
const T0 = Date.parse("2026-11-30T10:00:00Z");

function picture(links: GraphLink[], counters: Map<string, LinkCounters> | null = null): Picture {
  return layout(track(null, links, T0), counters, [], T0);
}

const boxOf = (p: Picture, name: string) => p.boxes.find((b) => b.name === name)!;
const arrowOf = (p: Picture, l: GraphLink) => p.arrows.find((a) => a.key === linkKey(l))!;

describe("readGraph", () => {
  it("reads pv-xconnect's graph: every key, in its types", () => {
    const { links, problems } = readGraph(JSON.stringify([UNIX, { ...REST, target: null }]));
    expect(problems).toEqual([]);
    expect(links).toEqual([UNIX, { ...REST, target: null }]);
  });

  it("fills what a device may leave out: role any, interface = type, pid -1, target null", () => {
    const { links, problems } = readGraph(JSON.stringify([{ consumer: "c", provider: "p", name: "n", type: "dbus" }]));
    expect(problems).toEqual([]);
    expect(links[0]).toEqual({ consumer: "c", consumer_pid: -1, provider: "p", provider_pid: -1, name: "n", type: "dbus", role: "any", interface: "dbus", target: null, socket: "" });
  });

  it("says what is wrong with text that is not a graph, and returns no links", () => {
    expect(readGraph("<html>oops</html>")).toEqual({ links: [], problems: [expect.stringMatching(/^the graph is not JSON \(.*\): "<html>oops<\/html>"$/)] });
    expect(readGraph('{"error": "x"}').problems).toEqual(["the graph is not a JSON array (got object)"]);
    expect(readGraph("null").problems).toEqual(["the graph is not a JSON array (got null)"]);
  });

  it("skips entries it cannot draw, each with a line naming the entry and the field", () => {
    const { links, problems } = readGraph(JSON.stringify([UNIX, 42, { consumer: "c", provider: 7, name: "n" }]));
    expect(links).toEqual([UNIX]);
    expect(problems).toEqual(["graph entry 1 skipped: not an object", "graph entry 2 skipped: provider, type missing or not a string"]);
  });

  it("keeps links of an unknown type and names the type once", () => {
    const { links, problems } = readGraph(JSON.stringify([link("a", "b", "x", { type: "tcp" }), link("c", "d", "y", { type: "tcp" })]));
    expect(links).toHaveLength(2);
    expect(problems).toEqual([expect.stringMatching(/^unknown service type "tcp" \(not one of unix, rest, dbus, drm, wayland\)/)]);
  });

  it(`draws at most ${MAX_LINKS} links and says so`, () => {
    const many = Array.from({ length: MAX_LINKS + 5 }, (_, i) => link(`c${i}`, "p", `s${i}`));
    const { links, problems } = readGraph(JSON.stringify(many));
    expect(links).toHaveLength(MAX_LINKS);
    expect(problems).toEqual([`the graph has ${MAX_LINKS + 5} links: only the first ${MAX_LINKS} are drawn`]);
  });

  it("reads the local mesh's counters by link, and refuses text that is not a list", () => {
    const row = { consumer: "unix-client", name: "raw", target: UNIX.target, accepted: 3, open: 1, bytes_from_consumer: 135, bytes_to_consumer: 135, last_error: null };
    const { counters, problem } = readCounters(JSON.stringify([row]));
    expect(problem).toBeUndefined();
    expect(counters.get(linkKey(UNIX))).toEqual({ accepted: 3, open: 1, bytes_from_consumer: 135, bytes_to_consumer: 135, last_error: null });
    expect(readCounters("nope").problem).toMatch(/not JSON/);
    expect(readCounters("{}").problem).toMatch(/not a JSON array/);
  });
});

describe("track: what changed between two polls", () => {
  it("on the first poll everything is simply there", () => {
    const tracked = track(null, [UNIX, REST], T0);
    expect([...tracked.values()].map((t) => t.status)).toEqual(["steady", "steady"]);
  });

  it("a link that appears later is new, and steady once HIGHLIGHT_MS passed", () => {
    const first = track(null, [UNIX], T0);
    const second = track(first, [UNIX, REST], T0 + 1000);
    expect(second.get(linkKey(REST))).toMatchObject({ status: "new", since: T0 + 1000 });
    expect(track(second, [UNIX, REST], T0 + 2000).get(linkKey(REST))!.status).toBe("new");
    expect(track(second, [UNIX, REST], T0 + 1000 + HIGHLIGHT_MS).get(linkKey(REST))!.status).toBe("steady");
  });

  it("a pid that changes is a restart, worded with both pids", () => {
    const first = track(null, [UNIX], T0);
    const second = track(first, [{ ...UNIX, provider_pid: 300 }], T0 + 1000);
    expect(second.get(linkKey(UNIX))).toMatchObject({ status: "restarted", since: T0 + 1000, change: "provider pid 200 -> 300" });
  });

  it("a restart seen in two polls (down, then a new pid) names the pid it had while running", () => {
    const first = track(null, [UNIX], T0);
    const down = track(first, [{ ...UNIX, provider_pid: -1 }], T0 + 1000);
    expect(down.get(linkKey(UNIX))!.status).toBe("down");
    const back = track(down, [{ ...UNIX, provider_pid: 300 }], T0 + 2000);
    expect(back.get(linkKey(UNIX))).toMatchObject({ status: "restarted", change: "provider pid 200 -> 300" });
  });

  it("a link that leaves the graph stays, gone, for GONE_KEEP_MS, then is dropped", () => {
    const first = track(null, [UNIX, REST], T0);
    const gone = track(first, [UNIX], T0 + 1000);
    expect(gone.get(linkKey(REST))).toMatchObject({ status: "gone", since: T0 + 1000, link: REST });
    expect(track(gone, [UNIX], T0 + 1000 + GONE_KEEP_MS - 1).has(linkKey(REST))).toBe(true);
    expect(track(gone, [UNIX], T0 + 1000 + GONE_KEEP_MS).has(linkKey(REST))).toBe(false);
  });

  it("a gone link that comes back is new", () => {
    const gone = track(track(null, [UNIX, REST], T0), [UNIX], T0 + 1000);
    expect(track(gone, [UNIX, REST], T0 + 2000).get(linkKey(REST))!.status).toBe("new");
  });

  it("keys links as pv-xconnect does (consumer, name, target): a duplicate row is one link", () => {
    expect(track(null, [UNIX, { ...UNIX, provider: "other" }], T0).size).toBe(1);
  });
});

describe("layout", () => {
  it("puts consumers left of their providers, one box per container, one arrow per link", () => {
    const p = picture([UNIX, REST]);
    expect(p.boxes.map((b) => b.name).sort()).toEqual(["rest-client", "rest-server", "unix-client", "unix-server"]);
    expect(p.arrows).toHaveLength(2);
    for (const l of [UNIX, REST]) {
      expect(boxOf(p, l.consumer).x).toBeLessThan(boxOf(p, l.provider).x);
      const [[x1], , , [x2]] = arrowOf(p, l).path;
      expect(x1).toBe(boxOf(p, l.consumer).x + BOX_WIDTH);
      expect(x2).toBe(boxOf(p, l.provider).x);
    }
  });

  it("gives a chain of providers one column each (wayland-client -> wayland-server -> drm-provider)", () => {
    const wl = link("wayland-client", "wayland-server", "wayland-0", { type: "wayland" });
    const drm = link("wayland-server", "drm-provider", "drm-master", { type: "drm", target: "/dev/dri/card0" });
    const p = picture([wl, drm, UNIX]);
    const x = (name: string): number => boxOf(p, name).x;
    expect(x("wayland-client")).toBeLessThan(x("wayland-server"));
    expect(x("wayland-server")).toBeLessThan(x("drm-provider"));
    expect(x("unix-client")).toBe(x("wayland-server"));
    expect(x("unix-server")).toBe(x("drm-provider"));
    expect(boxOf(p, "wayland-server").lines).toEqual(["wayland-server", "pid 200", "provides wayland-0", "uses drm-master"]);
  });

  it("survives a cycle (each uses the other) and draws both arrows", () => {
    const p = picture([link("a", "b", "x"), link("b", "a", "y")]);
    expect(p.boxes).toHaveLength(2);
    expect(p.arrows).toHaveLength(2);
  });

  it("keeps boxes apart and every arrow end on its box's side", () => {
    const links = [UNIX, REST, link("dbus-client", "dbus-server", "system-bus", { type: "dbus", role: "root", target: "/run/dbus/system_bus_socket" }), link("dbus-client-nobody", "dbus-server", "system-bus", { type: "dbus", role: "nobody", target: "/run/dbus/system_bus_socket" })];
    const p = picture(links);
    for (const a of p.boxes) {
      for (const b of p.boxes) {
        if (a === b || a.x !== b.x) continue;
        expect(a.y + a.height <= b.y || b.y + b.height <= a.y, `${a.name} overlaps ${b.name}`).toBe(true);
      }
    }
    for (const arrow of p.arrows) {
      const [[, y1], , , [, y2]] = arrow.path;
      const from = boxOf(p, arrow.consumer);
      const to = boxOf(p, arrow.provider);
      expect(y1).toBeGreaterThan(from.y);
      expect(y1).toBeLessThan(from.y + from.height);
      expect(y2).toBeGreaterThan(to.y);
      expect(y2).toBeLessThan(to.y + to.height);
    }
    // The two dbus links end at two different points of dbus-server's side.
    const ends = p.arrows.filter((a) => a.provider === "dbus-server").map((a) => a.path[3][1]);
    expect(new Set(ends).size).toBe(2);
  });

  it("stacks labels between the same columns without overlap, and fits everything in the picture", () => {
    const links = Array.from({ length: 6 }, (_, i) => link(`client-${i}`, "server", `svc-${i}`));
    const counters = new Map(links.map((l) => [linkKey(l), { accepted: 1, open: 0, bytes_from_consumer: 10, bytes_to_consumer: 10, last_error: "boom" }]));
    const p = picture(links, counters);
    // A line's text reaches from its baseline - lineHeight + 3 to its baseline + 3.
    const blocks = p.arrows.map((a) => [a.lineY[0]! - p.lineHeight + 3, a.lineY.at(-1)! + 3] as const).sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < blocks.length; i++) expect(blocks[i]![0]).toBeGreaterThanOrEqual(blocks[i - 1]![1]);
    expect(Math.max(...blocks.map((b) => b[1]))).toBeLessThanOrEqual(p.height);
    expect(Math.min(...blocks.map((b) => b[0]))).toBeGreaterThanOrEqual(0);
    expect(Math.max(...p.boxes.map((b) => b.x + b.width))).toBeLessThanOrEqual(p.width);
  });

  it("writes service and target above a lone arrow, and the rest below it", () => {
    const counters = new Map([[linkKey(UNIX), { accepted: 3, open: 1, bytes_from_consumer: 1, bytes_to_consumer: 1, last_error: null }]]);
    const arrow = arrowOf(picture([UNIX], counters), UNIX);
    const middle = (arrow.path[0][1] + arrow.path[3][1]) / 2;
    expect(arrow.lines).toHaveLength(3);
    expect(arrow.lineY[1]! + 3).toBeLessThanOrEqual(middle);
    expect(arrow.lineY[2]! - 15 + 3).toBeGreaterThanOrEqual(middle);
  });

  it("labels an arrow with service, type, role and target, then the counters when there are some", () => {
    const counters = new Map([[linkKey(UNIX), { accepted: 3, open: 1, bytes_from_consumer: 135, bytes_to_consumer: 2048, last_error: "cannot reach /run/example/raw.sock: ECONNREFUSED" }]]);
    const p = picture([UNIX, REST], counters);
    expect(arrowOf(p, UNIX).lines).toEqual(["raw · unix · role any", "-> /run/pv/services/raw.sock", "3 conn (1 open) · in 135 B · out 2.0 kB", "last error: cannot reach /run/example/raw.s…"]);
    expect(arrowOf(p, UNIX).lines[3]).toHaveLength(MAX_LABEL);
    expect(arrowOf(p, UNIX).counters).toBe("3 conn (1 open) · in 135 B · out 2.0 kB · last error: cannot reach /run/example/raw.sock: ECONNREFUSED");
    expect(arrowOf(p, REST).lines).toEqual(["api · rest · role any", "-> /run/pv/services/api.sock"]);
    expect(arrowOf(p, REST).counters).toBeNull();
    expect(p.counters).toBe(true);
    expect(picture([UNIX]).counters).toBe(false);
  });

  it("words a restart, a link that went down, and one that is gone", () => {
    const first = track(null, [UNIX, REST], T0);
    const second = track(first, [{ ...UNIX, provider_pid: 300 }, { ...REST, consumer_pid: -1 }], T0 + 1000);
    let p = layout(second, null, [], T0 + 1000);
    expect(arrowOf(p, UNIX).lines.slice(-2)).toEqual(["restarted at 10:00:01 UTC", "provider pid 200 -> 300"]);
    expect(arrowOf(p, REST).lines.at(-1)).toBe("down: consumer not running");
    expect(boxOf(p, "rest-client")).toMatchObject({ state: "down", lines: ["rest-client", "not running", "uses api"] });
    expect(boxOf(p, "unix-server").lines[1]).toBe("pid 300");

    p = layout(track(second, [{ ...UNIX, provider_pid: 300 }], T0 + 2000), null, [], T0 + 2000);
    expect(arrowOf(p, REST)).toMatchObject({ status: "gone", lines: ["api · rest · role any", "-> /run/pv/services/api.sock", "gone at 10:00:02 UTC"] });
    expect(boxOf(p, "rest-server")).toMatchObject({ state: "gone", lines: ["rest-server", "gone from the graph", "provides api"] });
  });

  it(`cuts names longer than ${MAX_LABEL} characters in labels, and keeps them whole for the table`, () => {
    const long = "x".repeat(200);
    const p = picture([link(long, "server", long)]);
    expect(boxOf(p, long).lines[0]).toHaveLength(MAX_LABEL);
    expect(boxOf(p, long).lines[0]!.endsWith("…")).toBe(true);
    expect(arrowOf(p, link(long, "server", long)).name).toBe(long);
  });

  it("passes banners through, and an empty graph is an empty picture", () => {
    const p = layout(new Map(), null, ["no pv-ctrl socket at /x"], T0);
    expect(p).toMatchObject({ boxes: [], arrows: [], banners: ["no pv-ctrl socket at /x"], updated: "2026-11-30T10:00:00.000Z" });
  });
});
