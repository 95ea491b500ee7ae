// mesh-view: a live picture of the service mesh, in a browser.
//
// Every second it asks pv-ctrl for the mesh's graph (`GET /xconnect-graph`, HTTP/1.0 on a unix
// socket: what pv-xconnect itself reads), and serves one page that draws it: containers as boxes,
// each link as an arrow from consumer to provider labelled with service, type, role and target.
// The page updates itself (server-sent events, GET /events) and shows a link that appears, whose
// pid changes (a restarted container) or that leaves the graph. The local mesh also answers
// `GET /xconnect-counters` (connections and bytes per link, last error); a device's pv-ctrl does
// not, and the page then draws the graph alone. What the picture shows is decided in model.ts; the
// page (page.html, built into this bundle) only draws it, with text set as text: names come from
// manifests and are never parsed as HTML.
//
// Run:  node dist/mesh-view/main.js [--ctrl PATH] [--listen HOST:PORT|PATH] [--interval SECONDS]
//       (`npm start` runs it on the local mesh and prints its URL; --help lists everything)
// On a device: the pv-example-mesh-view container, whose args.json gives it role mgmt: pv-ctrl
//       serves the graph only to mgmt containers (README.md, "Mesh view").
// Stop: SIGTERM or Ctrl-C: ends the event streams, closes the server, exits 0.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import fastify, { type FastifyInstance } from "fastify";
import type { ServerResponse } from "node:http";
import { parseCommandLine, positiveNumber, UsageError } from "../../shared/cli";
import { systemErrorLine } from "../../shared/errors";
import { log } from "../../shared/log";
import { devicePath, ROOT_ENV } from "../../shared/paths";
import { runMain } from "../../shared/run";
import { sleep, stopSignal, untilAborted } from "../../shared/shutdown";
import { listenError, prepareSocketPath, removeSocket } from "../../shared/socket";
import { layout, readCounters, readGraph, track, type LinkCounters, type Picture, type TrackedLink } from "./model";
// esbuild puts the page's text into the bundle (one file to ship); html.d.ts types it.
import PAGE from "./page.html" with { type: "text" };

/** Where pv-ctrl is: inside a Pantavisor container, then on the device's own root (as pvcontrol looks). */
const CTRL_PATHS = ["/pantavisor/pv-ctrl", "/run/pantavisor/pv/pv-ctrl"];
const LISTEN = "127.0.0.1:8470";
const INTERVAL_SECONDS = 1;
/** The answer is read whole; a bigger one is refused rather than buffered (a device graph is a few kB). */
const MAX_ANSWER_BYTES = 1024 * 1024;
const ANSWER_TIMEOUT_MS = 2000;
const MAX_VIEWERS = 32;

/** The page's own script and style are the only ones the browser may run (a name that smuggles HTML in runs nothing). */
function contentSecurityPolicy(page: string): string {
  const hashes = (tag: string): string =>
    [...page.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, "g"))].map((m) => `'sha256-${createHash("sha256").update(m[1]!).digest("base64")}'`).join(" ");
  return `default-src 'none'; script-src ${hashes("script")}; style-src ${hashes("style")}; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
}

export interface CtrlAnswer {
  status: number;
  body: string;
}

/**
 * One `GET <path>` on pv-ctrl, HTTP/1.0 on a fresh connection (as pv-xconnect asks): the answer is
 * read until the server closes, at most MAX_ANSWER_BYTES, within ANSWER_TIMEOUT_MS.
 */
export function ctrlGet(socketPath: string, path: string, signal?: AbortSignal): Promise<CtrlAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath, () => socket.write(`GET ${path} HTTP/1.0\r\nHost: localhost\r\n\r\n`));
    const chunks: Buffer[] = [];
    let size = 0;
    const fail = (error: Error): void => {
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(() => fail(new Error(`no answer from ${socketPath} within ${ANSWER_TIMEOUT_MS / 1000} s`)), ANSWER_TIMEOUT_MS);
    const abort = (): void => fail(new Error("stopped"));
    signal?.addEventListener("abort", abort, { once: true });
    socket.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_ANSWER_BYTES) return fail(new Error(`the answer to GET ${path} is larger than ${MAX_ANSWER_BYTES / 1024 / 1024} MiB: not read`));
      chunks.push(chunk);
    });
    socket.on("error", fail);
    socket.on("close", () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", abort);
      const answer = Buffer.concat(chunks).toString("utf8");
      const head = answer.indexOf("\r\n\r\n");
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1];
      if (head === -1 || status === undefined) return reject(new Error(`GET ${path}: not an HTTP answer: ${JSON.stringify(answer.slice(0, 60))}`));
      resolve({ status: Number(status), body: answer.slice(head + 4) });
    });
  });
}

/** Why the graph could not be read, in one line for the banner and the log. */
function describeFailure(socketPath: string, error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return `no pv-ctrl socket at ${socketPath} (ENOENT): is the mesh running? (--ctrl names another socket)`;
  return systemErrorLine(error, `cannot read the graph from ${socketPath}`) ?? (error as Error).message;
}

/** Why pv-ctrl said no, in one line. */
function describeRefusal(answer: CtrlAnswer): string {
  const said = JSON.stringify(answer.body.trim().slice(0, 120));
  const hint = answer.status === 403 ? " (pv-ctrl serves the graph to containers with role mgmt only: PV_ROLES [\"mgmt\"] in args.json)" : "";
  return `GET /xconnect-graph answered ${answer.status}: ${said}${hint}`;
}

export interface ViewOptions {
  ctrl: string;
  /** A unix socket path, or a TCP host and port (port 0: any free one). */
  listen: { path: string } | { host: string; port: number };
  intervalMs: number;
}

export interface MeshView {
  url: string;
  close(): Promise<void>;
}

/** Reads the graph (and the counters when there are any) and makes this poll's picture. */
async function poll(ctrl: string, previous: Map<string, TrackedLink> | null, signal: AbortSignal): Promise<{ tracked: Map<string, TrackedLink> | null; picture: Picture }> {
  const now = Date.now();
  let answer: CtrlAnswer;
  try {
    answer = await ctrlGet(ctrl, "/xconnect-graph", signal);
  } catch (error) {
    return { tracked: previous, picture: layout(previous ?? new Map(), null, [describeFailure(ctrl, error)], now) };
  }
  if (answer.status !== 200) return { tracked: previous, picture: layout(previous ?? new Map(), null, [describeRefusal(answer)], now) };
  const { links, problems } = readGraph(answer.body);
  // A graph that is not JSON at all keeps the last picture: it says nothing about the links.
  const tracked = links.length === 0 && problems.length > 0 ? previous : track(previous, links, now);

  // The local mesh's counters; anything but a 200 (a device's pv-ctrl: unknown endpoint) means none.
  let counters: Map<string, LinkCounters> | null = null;
  const counted = await ctrlGet(ctrl, "/xconnect-counters", signal).catch(() => null);
  if (counted?.status === 200) {
    const read = readCounters(counted.body);
    counters = read.counters;
    if (read.problem !== undefined) problems.push(read.problem);
  }
  return { tracked, picture: layout(tracked ?? new Map(), counters, problems, now) };
}

/** What changed for the log: one line per link that appeared, restarted, went down or left. */
function changes(before: Map<string, TrackedLink> | null, after: Map<string, TrackedLink>): string[] {
  if (before === null) return [];
  const lines: string[] = [];
  for (const [key, t] of after) {
    const was = before.get(key);
    if (was?.status === t.status && was.since === t.since) continue;
    const what = `${t.link.consumer} -> ${t.link.provider} (${t.link.name})`;
    if (t.status === "new") lines.push(`link ${what}: new`);
    if (t.status === "restarted") lines.push(`link ${what}: restarted (${t.change})`);
    if (t.status === "down") lines.push(`link ${what}: down (a container is not running)`);
    if (t.status === "gone") lines.push(`link ${what}: gone from the graph`);
  }
  return lines;
}

function buildApp(current: () => Picture, viewers: Set<ServerResponse>): FastifyInstance {
  const app = fastify({ logger: false, return503OnClosing: true });
  const policy = contentSecurityPolicy(PAGE);

  app.get("/", async (_request, reply) =>
    reply.type("text/html; charset=utf-8").header("content-security-policy", policy).header("x-content-type-options", "nosniff").send(PAGE),
  );
  app.get("/picture.json", async () => current());

  // Server-sent events: the current picture at once, then every new one; a comment line every
  // 15 s keeps proxies from closing an idle stream.
  app.get("/events", (request, reply) => {
    if (viewers.size >= MAX_VIEWERS) return reply.code(503).send({ error: `more than ${MAX_VIEWERS} viewers` });
    reply.hijack();
    const stream = reply.raw;
    stream.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", "x-content-type-options": "nosniff" });
    stream.write(`retry: 1000\n\nevent: picture\ndata: ${JSON.stringify(current())}\n\n`);
    viewers.add(stream);
    const keepAlive = setInterval(() => stream.write(": keep-alive\n\n"), 15_000);
    request.raw.on("close", () => {
      clearInterval(keepAlive);
      viewers.delete(stream);
    });
  });
  return app;
}

/** Serves the page and polls the graph until close(). */
export async function start(options: ViewOptions): Promise<MeshView> {
  const viewers = new Set<ServerResponse>();
  let picture: Picture = layout(new Map(), null, ["waiting for the first graph"], Date.now());
  const app = buildApp(() => picture, viewers);

  let url: string;
  if ("path" in options.listen) {
    const { path } = options.listen;
    prepareSocketPath(path);
    await app.listen({ path }).catch((error: unknown) => {
      throw listenError(path, error);
    });
    url = `unix:${path} (curl --unix-socket ${path} http://localhost/)`;
  } else {
    const { host, port } = options.listen;
    await app.listen({ host, port }).catch((error: unknown) => {
      throw listenError(`${host}:${port}`, error);
    });
    const address = app.server.address();
    const bound = typeof address === "object" && address !== null ? address.port : port;
    url = `http://${host.includes(":") ? `[${host}]` : host}:${bound}/`;
  }

  // The poll loop: one poll at a time, each bounded by ANSWER_TIMEOUT_MS; stopped by close().
  const stopping = new AbortController();
  const loop = (async () => {
    let tracked: Map<string, TrackedLink> | null = null;
    let sent = "";
    let banners: string[] = [];
    while (!stopping.signal.aborted) {
      const next = await poll(options.ctrl, tracked, stopping.signal);
      if (stopping.signal.aborted) break;
      // One log line per problem when it appears (not one per poll), and one when all are gone.
      for (const banner of next.picture.banners.filter((b) => !banners.includes(b))) log(`problem: ${banner}`);
      if (banners.length > 0 && next.picture.banners.length === 0) log(`the graph reads fine again: ${next.picture.arrows.length} links`);
      if (tracked === null && next.tracked !== null) log(`graph: ${next.picture.arrows.length} links between ${next.picture.boxes.length} containers`);
      for (const line of next.tracked === null ? [] : changes(tracked, next.tracked)) log(line);
      banners = next.picture.banners;
      tracked = next.tracked;
      picture = next.picture;
      // Sent when something in it changed; its time alone is no news.
      const text = JSON.stringify({ ...picture, updated: "" });
      if (text !== sent) {
        sent = text;
        for (const viewer of viewers) viewer.write(`event: picture\ndata: ${JSON.stringify(picture)}\n\n`);
      }
      await sleep(options.intervalMs, stopping.signal);
    }
  })();

  return {
    url,
    async close() {
      stopping.abort();
      await loop;
      for (const viewer of viewers) viewer.end();
      // Idle connections are closed at once; busy ones get half a second.
      const deadline = setTimeout(() => app.server.closeAllConnections(), 500);
      await app.close();
      clearTimeout(deadline);
      if ("path" in options.listen) removeSocket(options.listen.path);
    },
  };
}

/** --listen: a socket path (starts with / or .), or HOST:PORT ([::1]:8470 for IPv6). */
export function parseListen(text: string): ViewOptions["listen"] {
  if (text.startsWith("/") || text.startsWith(".")) return { path: text };
  const match = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (match === null || port > 65535) throw new UsageError(`--listen must be HOST:PORT or a socket path, got "${text}"`);
  return { host: match[1]!.replace(/^\[|\]$/g, ""), port };
}

async function main(): Promise<number> {
  const defaultCtrl = CTRL_PATHS.map(devicePath).find((path) => existsSync(path)) ?? devicePath(CTRL_PATHS[0]!);
  const { values } = parseCommandLine({
    name: "mesh-view",
    summary: "Serves a live picture of the service mesh (pv-ctrl's GET /xconnect-graph, read every second) as one web page.",
    options: {
      ctrl: { type: "string", value: "PATH", default: defaultCtrl, help: `the pv-ctrl socket (the first that exists of ${CTRL_PATHS.join(", ")})` },
      listen: { type: "string", value: "HOST:PORT|PATH", default: LISTEN, help: "where to serve the page: a TCP address, or a unix socket path" },
      interval: { type: "string", value: "SECONDS", default: String(INTERVAL_SECONDS), help: "time between two reads of the graph" },
    },
    env: ROOT_ENV,
    notes: ["The page has no login: keep it on 127.0.0.1 (the default) and reach it through an SSH tunnel, or listen on a unix socket."],
    examples: ["mesh-view --ctrl /tmp/pv-mesh-XXXXXX/pv-ctrl", "mesh-view --listen 127.0.0.1:0", "ssh -L 8470:127.0.0.1:8470 root@device   # then open http://127.0.0.1:8470/"],
  });
  const listen = parseListen(values.listen);
  const intervalMs = positiveNumber("interval", values.interval) * 1000;
  const stopping = stopSignal();

  const view = await start({ ctrl: values.ctrl, listen, intervalMs });
  log(`mesh-view: serving ${view.url} (the graph of ${values.ctrl}, every ${intervalMs / 1000} s)`);
  if ("host" in listen && !/^(127\.|::1$|localhost$)/.test(listen.host)) {
    log(`warning: listening on ${listen.host}: anyone who can reach it sees the mesh (there is no login)`);
  }
  await untilAborted(stopping);
  log(`mesh-view: ${String(stopping.reason)} received, shutting down`);
  await view.close();
  return 0;
}

if (require.main === module) runMain(main);
