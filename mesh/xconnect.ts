// The local mesh: a stand-in for Pantavisor's pv-xconnect that runs the example containers on one
// machine, without root, so that tests and the demo see what a device would show.
//
// Given container folders (containers/<name>/ with services.json and/or args.json), it
//   1. builds the graph exactly as pv-xconnect does (one entry per requirement x matching export,
//      see GraphEntry), failing when a consumer requires a service nobody exports (a device rolls
//      such a revision back);
//   2. serves it as `GET /xconnect-graph` on a pv-ctrl-like unix socket, answered in one write;
//   3. runs each container's bundle as a child process whose "/" is a folder of its own
//      (PV_ROOT=<workDir>/<name>/root, pre-filled with containers/<name>/rootfs/ when present),
//      or, with a ContainerSpec's `chroot`, a command inside an unpacked image (as root);
//   4. injects each link at the consumer's target with the injector of the service's type, and
//      rebuilds it when the consumer or provider restarts (a new pid), as pv-xconnect does;
//   5. counts, per link, the connections accepted, the bytes each way and the last error, served as
//      `GET /xconnect-counters` on the same socket (pv-xconnect has no such endpoint: mesh-view
//      shows them when they are there).
import { cpSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadArgs, loadServices, type ServiceExport, type ServiceRequirement, type ServiceType } from "../shared/manifest";
import { ChildProgram, type Exit } from "./process";
import { countersAt } from "./proxy";
import type { Injection, Injector, Link, MeshOptions, Profile } from "./types/link";
import { injectDbus } from "./types/dbus";
import { copyDeviceNode, injectDrm } from "./types/drm";
import { injectRest } from "./types/rest";
import { injectUnix } from "./types/unix";
import { injectWayland } from "./types/wayland";

/** One place per service type: how the mesh makes a provider's socket appear in a consumer. */
const INJECTORS: Record<ServiceType, Injector | undefined> = {
  unix: injectUnix,
  rest: injectRest,
  dbus: injectDbus,
  drm: injectDrm,
  wayland: injectWayland,
};

/** One row of `GET /xconnect-graph`; the key order is pv-xconnect's. */
export interface GraphEntry {
  consumer: string;
  consumer_pid: number;
  provider: string;
  provider_pid: number;
  name: string;
  type: ServiceType;
  role: string;
  interface: string;
  target: string | null;
  socket: string;
}

/**
 * One row of `GET /xconnect-counters` (the local mesh only), for each link whose injection is a
 * socket the mesh listens on: not drm (a device node), nor wayland under documented (a symlink).
 * Counted since the link was last (re)built.
 */
export interface LinkCounters {
  consumer: string;
  name: string;
  target: string;
  accepted: number;
  open: number;
  bytes_from_consumer: number;
  bytes_to_consumer: number;
  /** The last line the link's injector logged after the link was built (injectors log only failures then). */
  last_error: string | null;
  last_error_at: string | null;
}

export interface ContainerSpec {
  /** The folder under containers/. */
  name: string;
  /** Extra command-line arguments for its program (e.g. a shorter --interval). */
  args?: string[];
  env?: Record<string, string>;
  /** Host device nodes copied into the container's root at the same path (like `docker --device`; needs root). */
  devices?: string[];
  /**
   * Required services this run leaves out of the container's args.json, with why (the demo runs
   * Weston headless, so wayland-server goes without drm-master where the DRM pattern cannot run).
   * They are neither checked nor in the graph nor linked, and the mesh says so once.
   */
  without?: { services: string[]; why: string };
  /**
   * Run the container from an unpacked image instead of its bundle (needs root): `root` is the
   * image's root directory and becomes the container's root (links are injected below it), and
   * `command` (the image's entrypoint, e.g. /usr/bin/pv-example-unix-server) runs inside it in a
   * private mount namespace with /proc mounted and a clean environment (`args` and `env` are
   * added): no PV_ROOT, the program uses the device's paths, as on Pantavisor. The mesh neither
   * empties nor refills `root`. Give it `devices` such as /dev/null, as LXC's autodev would.
   */
  chroot?: { root: string; command: string[] };
}

export interface MeshConfig {
  containers: ContainerSpec[];
  profile: Profile;
  /** master profile: idle time before a consumer sees the provider's close (device: 60 s). */
  lingerMs?: number;
  /** Where the repo is (containers/ and dist/); found from this file or the working directory by default. */
  repoRoot?: string;
  /** Called for each line a container prints, and for the mesh's own lines (container "mesh"). */
  onLine?: (container: string, line: string) => void;
  /** Keep the work directory after close() (for looking around after a demo). */
  keepWorkDir?: boolean;
}

interface Container {
  name: string;
  /** Its root directory on the host (PV_ROOT, or the unpacked image), and what fills it at start (containers/<name>/rootfs; null for an image). */
  root: string;
  rootfs: string | null;
  exports: ServiceExport[];
  required: ServiceRequirement[];
  optional: ServiceRequirement[];
  devices: string[];
  process: ChildProgram;
}

/** The repo root: the nearest folder up from here (or the working directory) that has containers/. */
export function findRepoRoot(): string {
  const starts = [typeof __dirname === "string" ? __dirname : process.cwd(), process.cwd()];
  for (const start of starts) {
    for (let dir = resolve(start); ; dir = resolve(dir, "..")) {
      if (existsSync(join(dir, "containers")) && existsSync(join(dir, "package.json"))) return dir;
      if (dir === "/") break;
    }
  }
  throw new Error("cannot find the pv-examples repo (a folder with containers/ and package.json)");
}

/** Which program a container folder runs: its own main.ts, or container.json's "program". */
function programOf(containerDir: string, name: string): string {
  const manifest = join(containerDir, "container.json");
  if (!existsSync(manifest)) return name;
  const program = (JSON.parse(readFileSync(manifest, "utf8")) as { program?: unknown }).program;
  if (typeof program !== "string" || program === "") throw new Error(`${manifest}: program: must be a non-empty string`);
  return program;
}

export class Mesh {
  readonly ctrlSocket: string;
  private readonly containers = new Map<string, Container>();
  private readonly links = new Map<string, { injection: Injection; pids: string; link: Link }>();
  private readonly lastErrors = new Map<string, { line: string; at: string }>();
  private ctrlServer: Server | null = null;
  private reconciling: Promise<void> = Promise.resolve();
  private readonly options: MeshOptions;

  constructor(
    readonly workDir: string,
    private readonly config: MeshConfig & { repoRoot: string },
  ) {
    const { repoRoot } = config;
    this.ctrlSocket = join(workDir, "pv-ctrl");
    this.options = {
      profile: config.profile,
      lingerMs: config.lingerMs ?? 60_000,
      log: (line) => config.onLine?.("mesh", line),
    };
    for (const spec of config.containers) {
      const dir = join(repoRoot, "containers", spec.name);
      if (!existsSync(dir)) throw new Error(`no container ${spec.name}: ${dir} does not exist`);
      const program = programOf(dir, spec.name);
      const bundle = join(repoRoot, "dist", program, "main.js");
      if (spec.chroot === undefined && !existsSync(bundle)) throw new Error(`${spec.name}: ${bundle} is missing: run \`npm run build\` first`);
      const args = existsSync(join(dir, "args.json")) ? loadArgs(join(dir, "args.json")) : { required: [], optional: [] };
      const leftOut = (requirement: ServiceRequirement): boolean => spec.without?.services.includes(requirement.name) ?? false;
      if (spec.without !== undefined) this.options.log(`${spec.name}: without ${spec.without.services.join(", ")} (${spec.without.why})`);
      const root = spec.chroot?.root ?? join(workDir, spec.name, "root");
      const onLine = (line: string): void => config.onLine?.(spec.name, line);
      const container: Container = {
        name: spec.name,
        root,
        rootfs: spec.chroot === undefined ? join(dir, "rootfs") : null,
        exports: existsSync(join(dir, "services.json")) ? loadServices(join(dir, "services.json")) : [],
        required: args.required.filter((requirement) => !leftOut(requirement)),
        optional: args.optional.filter((requirement) => !leftOut(requirement)),
        devices: spec.devices ?? [],
        process:
          spec.chroot === undefined
            ? new ChildProgram({ name: spec.name, bundle, args: spec.args, env: { PV_ROOT: root, ...spec.env }, onLine })
            : new ChildProgram({
                name: spec.name,
                // unshare execs the command (no fork), so signals reach the program itself.
                command: "unshare",
                args: [
                  "--mount", "--propagation", "private", `--root=${root}`, "--mount-proc",
                  "/usr/bin/env", "-i", ...Object.entries(spec.env ?? {}).map(([key, value]) => `${key}=${value}`),
                  ...spec.chroot.command, ...(spec.args ?? []),
                ],
                onLine,
              }),
      };
      this.containers.set(spec.name, container);
    }
    this.checkRequirements();
  }

  /** A required service that no container exports fails the whole revision on a device: here, start-up. */
  private checkRequirements(): void {
    for (const consumer of this.containers.values()) {
      for (const requirement of consumer.required) {
        const exported = [...this.containers.values()].some((c) => c.exports.some((e) => e.name === requirement.name));
        if (!exported) throw new Error(`${consumer.name}: requires service "${requirement.name}", which no container exports`);
      }
    }
  }

  /** The graph, as `GET /xconnect-graph` returns it: one entry per (requirement x matching export). */
  graph(): GraphEntry[] {
    const entries: GraphEntry[] = [];
    for (const consumer of this.containers.values()) {
      for (const requirement of [...consumer.required, ...consumer.optional]) {
        for (const provider of this.containers.values()) {
          for (const service of provider.exports.filter((e) => e.name === requirement.name)) {
            entries.push({
              consumer: consumer.name,
              consumer_pid: consumer.process.pid,
              provider: provider.name,
              provider_pid: provider.process.pid,
              name: service.name,
              type: service.type,
              role: requirement.role ?? "any",
              interface: requirement.interface ?? service.type,
              target: requirement.target ?? null,
              socket: service.socket,
            });
          }
        }
      }
    }
    return entries;
  }

  rootOf(name: string): string {
    return this.container(name).root;
  }

  pid(name: string): number {
    return this.container(name).process.pid;
  }

  output(name: string): string {
    return this.container(name).process.output();
  }

  /** The number of lines `name` printed so far: pass it to waitForOutput to see only newer ones. */
  mark(name: string): number {
    return this.container(name).process.mark();
  }

  waitForOutput(name: string, pattern: RegExp, timeoutMs = 10_000, fromLine = 0): Promise<string> {
    return this.container(name).process.waitForOutput(pattern, timeoutMs, fromLine);
  }

  exited(name: string): Promise<Exit> {
    return this.container(name).process.exited();
  }

  async start(name: string): Promise<void> {
    this.container(name).process.start();
    await this.reconcile();
  }

  /** Stops a container (SIGTERM by default; SIGKILL after 5 s). Its links stay, as on master. */
  async stop(name: string, signal: NodeJS.Signals = "SIGTERM"): Promise<Exit> {
    return this.container(name).process.stop(signal);
  }

  async restart(name: string, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    await this.stop(name, signal);
    await this.start(name);
  }

  /** Starts the pv-ctrl socket and every container, then injects the links. */
  async startAll(): Promise<void> {
    this.ctrlServer = await serveGraph(this.ctrlSocket, () => this.graph(), this.options.log, () => this.counters());
    for (const container of this.containers.values()) {
      if (container.rootfs !== null) {
        rmSync(container.root, { recursive: true, force: true });
        mkdirSync(container.root, { recursive: true, mode: 0o755 });
        if (existsSync(container.rootfs)) cpSync(container.rootfs, container.root, { recursive: true });
      }
      for (const device of container.devices) copyDeviceNode(device, join(container.root, device));
      container.process.start();
    }
    await this.reconcile();
  }

  /**
   * Creates each link whose consumer and provider both run, and rebuilds one whose pids changed
   * (a restarted container gets a new mount namespace on a device, so its injected socket is gone).
   * Links are never removed while the mesh runs: pv-xconnect master does not remove them either.
   */
  reconcile(): Promise<void> {
    this.reconciling = this.reconciling.then(async () => {
      for (const entry of this.graph()) {
        if (entry.target === null || entry.consumer_pid <= 0 || entry.provider_pid <= 0) continue;
        const key = `${entry.consumer}|${entry.name}|${entry.target}`;
        const pids = `${entry.consumer_pid}|${entry.provider_pid}`;
        const existing = this.links.get(key);
        if (existing?.pids === pids) continue;
        const injector = INJECTORS[entry.type];
        if (injector === undefined) {
          this.options.log(`${entry.consumer}: service ${entry.name} has type ${entry.type}, which this mesh does not inject yet`);
          continue;
        }
        if (existing) await existing.injection.close();
        this.links.delete(key);
        this.lastErrors.delete(key);
        try {
          const link = this.link(entry);
          const injection = await injector(link, this.optionsFor(key, link));
          this.links.set(key, { injection, pids, link });
          this.options.log(`linked ${entry.consumer}:${entry.target} -> ${entry.provider}:${entry.socket} (${entry.name}, ${entry.type}, role ${entry.role})`);
        } catch (error) {
          this.options.log(`cannot link ${entry.consumer}:${entry.target} -> ${entry.provider}:${entry.socket}: ${(error as Error).message}`);
        }
      }
    });
    return this.reconciling;
  }

  /**
   * The options an injector gets for one link: its log lines go to the mesh's log as before, and a
   * line logged once the link is built (a connection that failed) is the link's last error, without
   * the "consumer -> provider (name...): " the injectors put in front.
   */
  private optionsFor(key: string, link: Link): MeshOptions {
    const prefix = `${link.consumer} -> ${link.provider} (`;
    return {
      ...this.options,
      log: (line) => {
        this.options.log(line);
        if (!this.links.has(key)) return;
        const error = line.startsWith(prefix) && line.includes("): ") ? line.slice(line.indexOf("): ") + 3) : line;
        this.lastErrors.set(key, { line: error, at: new Date().toISOString() });
      },
    };
  }

  /** `GET /xconnect-counters`: what each socket-injected link has carried. */
  counters(): LinkCounters[] {
    const rows: LinkCounters[] = [];
    for (const [key, { link }] of this.links) {
      const counted = countersAt(link.targetPath);
      if (counted === undefined) continue;
      const error = this.lastErrors.get(key);
      rows.push({
        consumer: link.consumer,
        name: link.name,
        target: link.target,
        accepted: counted.accepted,
        open: counted.open,
        bytes_from_consumer: counted.bytesFromConsumers,
        bytes_to_consumer: counted.bytesToConsumers,
        last_error: error?.line ?? null,
        last_error_at: error?.at ?? null,
      });
    }
    return rows;
  }

  private link(entry: GraphEntry): Link {
    const consumer = this.container(entry.consumer);
    const provider = this.container(entry.provider);
    return {
      consumer: entry.consumer,
      provider: entry.provider,
      name: entry.name,
      type: entry.type,
      role: entry.role,
      interface: entry.interface,
      target: entry.target!,
      socket: entry.socket,
      targetPath: join(consumer.root, entry.target!),
      socketPath: join(provider.root, entry.socket),
      providerRoot: provider.root,
    };
  }

  private container(name: string): Container {
    const container = this.containers.get(name);
    if (container === undefined) throw new Error(`no container ${name} in this mesh`);
    return container;
  }

  /** Stops every container (SIGTERM, then SIGKILL after 5 s), removes the links and the pv-ctrl socket. */
  async close(): Promise<void> {
    await this.reconciling;
    await Promise.all([...this.containers.values()].filter((c) => c.process.running).map((c) => c.process.stop()));
    for (const { injection } of this.links.values()) await injection.close();
    this.links.clear();
    await new Promise<void>((resolve) => (this.ctrlServer ? this.ctrlServer.close(() => resolve()) : resolve()));
    if (!this.config.keepWorkDir) rmSync(this.workDir, { recursive: true, force: true });
  }
}

/**
 * Serves `GET /xconnect-graph` over HTTP/1.0 on a unix socket. pv-xconnect master reads the answer
 * with one read of at most 4096 bytes, so the whole answer goes out in one write.
 * `GET /xconnect-counters` is the local mesh's own addition (per-link counters, for mesh-view).
 */
async function serveGraph(path: string, graph: () => GraphEntry[], log: (line: string) => void, counters: () => LinkCounters[]): Promise<Server> {
  const server = createServer((socket: Socket) => {
    let request = "";
    socket.setEncoding("latin1");
    socket.on("error", () => socket.destroy());
    socket.on("data", (chunk: string) => {
      request += chunk;
      if (request.length > 8192) return socket.destroy();
      if (!request.includes("\r\n\r\n") && !request.includes("\n\n")) return;
      const [method, target] = request.split(/\s+/, 2);
      let status = "200 OK";
      let body: string;
      if (method === "GET" && target === "/xconnect-graph") {
        body = JSON.stringify(graph());
        if (body.length > 4000) log(`warning: the graph is ${body.length} bytes; pv-xconnect master reads only 4096`);
      } else if (method === "GET" && target === "/xconnect-counters") {
        body = JSON.stringify(counters());
      } else {
        status = "404 Not Found";
        body = JSON.stringify({ error: `no such endpoint: ${method} ${target}` });
      }
      const head = `HTTP/1.0 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
      socket.end(head + body);
    });
  });
  rmSync(path, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => resolve());
  });
  chmodSync(path, 0o666);
  return server;
}

/** Builds the mesh for `config.containers`, starts everything, and resolves once the links are in place. */
export async function startMesh(config: MeshConfig): Promise<Mesh> {
  const repoRoot = config.repoRoot ?? findRepoRoot();
  const workDir = mkdtempSync(join(tmpdir(), "pv-mesh-"));
  // Other uids (a D-Bus role's user) must be able to walk to the sockets inside.
  chmodSync(workDir, 0o755);
  let mesh: Mesh;
  try {
    mesh = new Mesh(workDir, { ...config, repoRoot });
  } catch (error) {
    rmSync(workDir, { recursive: true, force: true });
    throw error;
  }
  try {
    await mesh.startAll();
  } catch (error) {
    await mesh.close();
    throw error;
  }
  return mesh;
}
