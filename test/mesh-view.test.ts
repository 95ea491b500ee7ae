// The functions passed to page.evaluate run in the page, with its document and window:
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// mesh-view in a real browser: Debian's headless Chromium, driven by puppeteer-core (which uses the
// system's browser and downloads none). Against the running local mesh (unix + rest pairs, which
// run as any user): the page lists every container and link of the graph, shows a restarted
// provider within 3 s, and draws its boxes where it says they are (checked in a screenshot). Then
// against a stand-in pv-ctrl that answers whatever the test says: bad graphs, a missing socket,
// a refusal, unknown types, names carrying HTML and script, links that go away. SIGTERM last.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ChildProgram } from "../mesh/process";
import { startMesh, type GraphEntry, type Mesh } from "../mesh/xconnect";
import { REPO, cleanUp, run, scratchDir } from "./support/bundles";
import { decodePng, shareNotBackground } from "./support/png";
import { skipUnless } from "./support/skips";

const CHROMIUM = "/usr/bin/chromium";
const NO_CHROMIUM = `${CHROMIUM} is missing: apt-get install chromium (scripts/setup.sh installs it when run as root)`;
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const WHITE = 0xffffff;

/** Chromium as the machine allows it: no sandbox (CI runs as root), no GPU, and no traffic of its own. */
async function launchChromium(): Promise<{ browser: Browser; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), "pv-chromium-"));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", `--user-data-dir=${profile}`],
  });
  return {
    browser,
    async close() {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Starts mesh-view on `ctrl` on a free port and resolves with it and its URL. */
async function startView(ctrl: string, interval = "1"): Promise<{ view: ChildProgram; url: string }> {
  const view = run("mesh-view", { args: ["--ctrl", ctrl, "--listen", "127.0.0.1:0", "--interval", interval] });
  const line = await view.waitForOutput(/serving http:\S+/);
  return { view, url: /serving (http:\S+)/.exec(line)![1]! };
}

/** What the page shows: its boxes, arrows, table rows and banners, read from the DOM. */
function shown(page: Page) {
  return page.evaluate(() => ({
    containers: [...document.querySelectorAll("[data-container]")].map((g) => g.getAttribute("data-container")),
    boxTexts: [...document.querySelectorAll("[data-container]")].map((g) => g.textContent),
    arrows: [...document.querySelectorAll("svg [data-link]")].map((g) => ({ className: g.getAttribute("class"), text: [...g.querySelectorAll("text")].map((t) => t.textContent) })),
    rows: [...document.querySelectorAll("#links tr")].map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent)),
    banners: [...document.querySelectorAll("#banners p")].map((p) => p.textContent),
    status: document.getElementById("status")!.textContent,
  }));
}

afterAll(cleanUp);

describe.skipIf(skipUnless(HAVE_CHROMIUM, "mesh-view in Chromium", NO_CHROMIUM))("mesh-view on the local mesh", () => {
  let mesh: Mesh;
  let chromium: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;
  let view: ChildProgram;

  beforeAll(async () => {
    const fast = ["--interval", "0.5"];
    mesh = await startMesh({ containers: [{ name: "unix-server" }, { name: "unix-client", args: fast }, { name: "rest-server" }, { name: "rest-client", args: fast }], profile: "documented" });
    const started = await startView(mesh.ctrlSocket);
    view = started.view;
    chromium = await launchChromium();
    page = await chromium.browser.newPage();
    await page.setViewport({ width: 1000, height: 460 });
    await page.goto(started.url);
  });
  afterAll(async () => {
    await chromium?.close();
    await mesh?.close();
  });

  it("lists every container and every link of the graph, with the counters of the local mesh", async () => {
    const graph = mesh.graph();
    await page.waitForFunction((count) => document.querySelectorAll("#links tr").length === count, { timeout: 10_000 }, graph.length);
    // The clients exchange every 0.5 s: wait until the counters show traffic on both links.
    await page.waitForFunction(() => [...document.querySelectorAll("#links tr td:last-child")].every((td) => /^[1-9]\d* conn/.test(td.textContent ?? "")), { timeout: 10_000 });
    const seen = await shown(page);
    const containers = new Set(graph.flatMap((entry) => [entry.consumer, entry.provider]));
    expect([...seen.containers].sort()).toEqual([...containers].sort());
    expect(seen.arrows).toHaveLength(graph.length);
    for (const entry of graph) {
      const row = seen.rows.find((cells) => cells[0] === entry.consumer && cells[2] === entry.name);
      expect(row, `a row for ${entry.consumer} / ${entry.name}`).toBeDefined();
      expect(row!.slice(0, 6)).toEqual([entry.consumer, entry.provider, entry.name, entry.type, entry.role, entry.target]);
      expect(row![7]).toMatch(/^\d+ conn \(\d+ open\) · in \d+(\.\d)? k?B · out \d+(\.\d)? k?B/);
      const box = seen.boxTexts[seen.containers.indexOf(entry.provider)];
      expect(box).toContain(`pid ${entry.provider_pid}`);
    }
    expect(seen.banners).toEqual([]);
    expect(seen.status).toMatch(/^live · 4 containers, 2 links · graph and counters/);
  });

  it("shows a restarted provider (a new pid) within 3 s", async () => {
    const before = mesh.pid("unix-server");
    await mesh.restart("unix-server");
    const after = mesh.pid("unix-server");
    expect(after).not.toBe(before);
    const restartedAt = Date.now();
    await page.waitForFunction(
      (pid) =>
        [...document.querySelectorAll('[data-container="unix-server"] text')].some((t) => t.textContent === `pid ${pid}`) &&
        document.querySelector('svg [data-provider="unix-server"]')?.getAttribute("class") === "link status-restarted",
      { timeout: 3000 },
      after,
    );
    const seenAfterMs = Date.now() - restartedAt;
    const arrow = (await shown(page)).arrows.find((a) => a.className === "link status-restarted")!;
    expect(arrow.text.slice(-2)).toEqual([expect.stringMatching(/^restarted at \d\d:\d\d:\d\d UTC$/), `provider pid ${before} -> ${after}`]);
    expect(view.output()).toContain(`link unix-client -> unix-server (raw): restarted (provider pid ${before} -> ${after})`);
    console.log(`mesh-view showed the restart ${seenAfterMs} ms after the new pid`);
  });

  it("draws its boxes where it says they are (pixels of a screenshot), and nothing where it has none", async () => {
    const boxes = await page.evaluate(() =>
      [...document.querySelectorAll("[data-container] rect")].map((rect) => {
        const r = rect.getBoundingClientRect();
        return { x: r.x, y: r.y, width: r.width, height: r.height };
      }),
    );
    const svg = await page.evaluate(() => {
      const r = document.getElementById("mesh")!.getBoundingClientRect();
      return { right: r.right, top: r.top };
    });
    expect(boxes).toHaveLength(4);
    const png = Buffer.from(await page.screenshot({ type: "png" }));
    const image = decodePng(png);
    for (const box of boxes) {
      // Inside the border: the box's fill and its text, no white.
      const inside = { x: box.x + 3, y: box.y + 3, width: box.width - 6, height: box.height - 6 };
      expect(shareNotBackground(image, inside, WHITE), `box at ${JSON.stringify(box)}`).toBeGreaterThan(0.95);
    }
    // Right of the picture, where the page draws nothing: background only.
    expect(shareNotBackground(image, { x: svg.right + 10, y: svg.top, width: image.width - svg.right - 20, height: 100 }, WHITE)).toBe(0);

    // The README's picture: results/mesh-view.png every run; docs/mesh-view.png when asked to.
    mkdirSync(join(REPO, "results"), { recursive: true });
    writeFileSync(join(REPO, "results", "mesh-view.png"), png);
    if (process.env.PV_UPDATE_SCREENSHOT === "1") copyFileSync(join(REPO, "results", "mesh-view.png"), join(REPO, "docs", "mesh-view.png"));
    expect(png.length).toBeLessThan(100 * 1024);
  });
});

/** A stand-in pv-ctrl on a unix socket: answers GET /xconnect-graph with whatever `answer` holds. */
class FakeCtrl {
  answer: { status: number; body: string | Buffer } | "hang" = { status: 200, body: "[]" };
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();

  constructor(readonly path: string) {}

  setGraph(entries: unknown): void {
    this.answer = { status: 200, body: JSON.stringify(entries) };
  }

  async start(): Promise<void> {
    this.server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      socket.on("error", () => socket.destroy());
      socket.once("data", (request: Buffer) => {
        // A device's pv-ctrl has no counters endpoint.
        const answer = request.toString("latin1").startsWith("GET /xconnect-counters") ? { status: 404, body: '{"Error":"Unknown endpoint"}' } : this.answer;
        if (answer === "hang") return;
        socket.end(Buffer.concat([Buffer.from(`HTTP/1.0 ${answer.status} X\r\nContent-Type: application/json\r\n\r\n`), Buffer.from(answer.body)]));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(this.path, resolve));
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

function entry(consumer: string, provider: string, name: string, extra: Partial<GraphEntry> | Record<string, unknown> = {}): Record<string, unknown> {
  return { consumer, consumer_pid: 10, provider, provider_pid: 20, name, type: "unix", role: "any", interface: "unix", target: `/run/pv/services/${name}.sock`, socket: `/run/example/${name}.sock`, ...extra };
}

describe.skipIf(skipUnless(HAVE_CHROMIUM, "mesh-view in Chromium", NO_CHROMIUM))("mesh-view given bad input by pv-ctrl", () => {
  let chromium: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;
  let ctrl: FakeCtrl;
  let view: ChildProgram;

  beforeAll(async () => {
    ctrl = new FakeCtrl(join(scratchDir("/tmp/pv-view-"), "pv-ctrl"));
    ctrl.setGraph([entry("unix-client", "unix-server", "raw")]);
    await ctrl.start();
    const started = await startView(ctrl.path, "0.2");
    view = started.view;
    chromium = await launchChromium();
    page = await chromium.browser.newPage();
    await page.goto(started.url);
  });
  afterAll(async () => {
    await chromium?.close();
    await ctrl?.close();
  });
  afterEach(() => {
    // Whatever it was given, it is still serving.
    expect(view.running, view.output()).toBe(true);
  });

  /** Waits until the page's banners include one matching `pattern`, lets a few more polls pass, and returns it. */
  async function banner(pattern: RegExp): Promise<string> {
    await page.waitForFunction((source) => [...document.querySelectorAll("#banners p")].some((p) => new RegExp(source).test(p.textContent ?? "")), { timeout: 5000 }, pattern.source);
    await new Promise((resolve) => setTimeout(resolve, 1000)); // five more polls with the same problem
    const found = (await shown(page)).banners.find((text) => pattern.test(text ?? ""))!;
    // One log line for the problem, however many polls saw it.
    expect(view.output().split("\n").filter((line) => line.endsWith(`problem: ${found}`))).toHaveLength(1);
    return found;
  }

  it("draws a graph from a device's pv-ctrl (no counters): the graph alone", async () => {
    await page.waitForFunction(() => document.querySelectorAll("#links tr").length === 1, { timeout: 5000 });
    const seen = await shown(page);
    expect(seen.rows[0]!.slice(6)).toEqual(["steady", "-"]);
    expect(seen.status).toMatch(/graph only \(this pv-ctrl has no counters\)/);
    expect(seen.banners).toEqual([]);
  });

  it("a graph that is not JSON: a banner, and the last picture stays", async () => {
    ctrl.answer = { status: 200, body: "<html><body>Internal error</body></html>" };
    expect(await banner(/^the graph is not JSON/)).toContain('"<html><body>Internal error</body></html>"');
    expect((await shown(page)).rows).toHaveLength(1);
  });

  it("an oversized answer: refused, with a banner", async () => {
    ctrl.answer = { status: 200, body: Buffer.alloc(2 * 1024 * 1024, "[") };
    await banner(/^the answer to GET \/xconnect-graph is larger than 1 MiB: not read$/);
  });

  it("a refusal (a container without role mgmt on a device): the status, pv-ctrl's words and what to do", async () => {
    ctrl.answer = { status: 403, body: '{"Error":"Request not sent from mgmt platform"}' };
    expect(await banner(/^GET \/xconnect-graph answered 403/)).toMatch(/Request not sent from mgmt platform.*role mgmt only: PV_ROLES \["mgmt"\] in args\.json/);
  });

  it("a link of an unknown type: drawn dashed, and named in a banner", async () => {
    ctrl.setGraph([entry("unix-client", "unix-server", "raw"), entry("web", "proxy", "http", { type: "tcp" })]);
    await banner(/^unknown service type "tcp"/);
    const arrows = (await shown(page)).arrows;
    expect(arrows.map((a) => a.className).sort()).toEqual(["link status-new unknown", "link status-steady"]);
  });

  it("names that carry HTML and script are shown as text and run nothing", async () => {
    const evil = {
      consumer: '<img src=x onerror="window.pwned=1">',
      provider: "<script>window.pwned=2</script>",
      name: '</text><foreignObject><body onload="window.pwned=3"></foreignObject>',
      role: '"><svg onload=window.pwned=4>',
      target: "/run/<b>bold</b>",
    };
    ctrl.setGraph([entry(evil.consumer, evil.provider, evil.name, { role: evil.role, target: evil.target })]);
    await page.waitForFunction((name) => [...document.querySelectorAll("#links td")].some((td) => td.textContent === name), { timeout: 5000 }, evil.name);
    const seen = await shown(page);
    expect(seen.rows.find((row) => row[0] === evil.consumer)!.slice(0, 6)).toEqual([evil.consumer, evil.provider, evil.name, "unix", evil.role, evil.target]);
    expect(seen.containers).toEqual(expect.arrayContaining([evil.consumer, evil.provider]));
    const dom = await page.evaluate(() => ({
      pwned: (window as unknown as { pwned?: number }).pwned,
      images: document.querySelectorAll("img").length,
      scripts: document.querySelectorAll("script").length,
      foreign: document.querySelectorAll("foreignObject").length,
      bold: document.querySelectorAll("b").length,
    }));
    expect(dom).toEqual({ pwned: undefined, images: 0, scripts: 1, foreign: 0, bold: 0 });
  });

  it("a link that leaves the graph stays drawn as gone; a pid that changes shows as a restart", async () => {
    ctrl.setGraph([entry("a", "b", "one"), entry("c", "d", "two")]);
    await page.waitForFunction(() => document.querySelector('svg [data-provider="d"]') !== null, { timeout: 5000 });
    ctrl.setGraph([entry("a", "b", "one", { provider_pid: 21 })]);
    await page.waitForFunction(() => document.querySelector("svg .status-gone") !== null && document.querySelector("svg .status-restarted") !== null, { timeout: 5000 });
    const arrows = (await shown(page)).arrows;
    expect(arrows.find((a) => a.className === "link status-gone")!.text.at(-1)).toMatch(/^gone at \d\d:\d\d:\d\d UTC$/);
    expect(arrows.find((a) => a.className === "link status-restarted")!.text.at(-1)).toBe("provider pid 20 -> 21");
    expect(view.output()).toContain("link c -> d (two): gone from the graph");
  });

  it("a missing socket: a banner naming it; back to normal when it returns", async () => {
    await ctrl.close();
    rmSync(ctrl.path, { force: true });
    expect(await banner(/^no pv-ctrl socket at /)).toContain(`${ctrl.path} (ENOENT)`);
    await ctrl.start();
    await page.waitForFunction(() => document.querySelector("#banners p") === null, { timeout: 5000 });
    expect(view.output()).toMatch(/the graph reads fine again: \d+ links/);
  });
});

describe("mesh-view and SIGTERM", () => {
  it("with a page's event stream open and pv-ctrl not answering: exits 0 within 1 s, its socket removed", async () => {
    const dir = scratchDir("/tmp/pv-view-");
    const ctrl = new FakeCtrl(join(dir, "pv-ctrl"));
    ctrl.answer = "hang";
    await ctrl.start();
    const socket = join(dir, "view.sock");
    const view = run("mesh-view", { args: ["--ctrl", ctrl.path, "--listen", socket] });
    await view.waitForOutput(/serving unix:/);
    // An event stream held open, as a browser's page holds it.
    const stream = await new Promise<Socket>((resolve) => {
      const s = connect(socket, () => {
        s.write("GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n");
        s.once("data", () => resolve(s));
      });
    });
    expect(await view.stop("SIGTERM", 1000)).toEqual({ code: 0, signal: null });
    expect(existsSync(socket)).toBe(false);
    stream.destroy();
    await ctrl.close();
  });

  it("rejects a bad --listen as a usage error: one line plus try --help, exit 2", async () => {
    const view = run("mesh-view", { args: ["--listen", "nowhere"] });
    expect((await view.exited()).code).toBe(2);
    expect(view.output().split("\n")).toEqual(['mesh-view: --listen must be HOST:PORT or a socket path, got "nowhere"', "try --help"]);
  });
});

describe("docs/mesh-view.png", () => {
  it("is committed and under 100 KB", () => {
    expect(statSync(join(REPO, "docs", "mesh-view.png")).size).toBeLessThan(100 * 1024);
  });
});
