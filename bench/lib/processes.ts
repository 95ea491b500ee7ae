// The processes a benchmark starts: servers under test, their baselines, and the load generators.
// They are mesh/process.ts's ChildPrograms: each in its own process group, so stopping it also
// stops what it started (dbus-daemon under a shell script, Weston under wayland-server), and every
// one still running when the bench ends is killed, whatever ended it. What the bench adds: the
// arrival time of every line, and a stop that signals the whole group.
import { readdirSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { performance } from "node:perf_hooks";
import { ChildProgram, rssMb, type Exit } from "../../mesh/process";

export { rssMb };

export interface LaunchOptions {
  env?: Record<string, string>;
  cwd?: string;
}

export interface Proc {
  readonly name: string;
  readonly pid: number;
  /** performance.now() just before spawn. */
  readonly spawnedAt: number;
  /** Everything printed so far, stdout and stderr as they arrived. */
  output(): string;
  /** Calls `listener` for every later line, with performance.now() at its arrival. */
  onLine(listener: (line: string, at: number) => void): void;
  /** Resolves with performance.now() at the arrival of the first line matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<number>;
  readonly exited: Promise<Exit>;
  readonly running: boolean;
  /** SIGTERM to the process group, SIGKILL after a second; resolves once it has exited. */
  stop(): Promise<void>;
}

const KILL_AFTER_MS = 1000;

const cleanups = new Set<() => Promise<void>>();

/** Registers what a signal must undo that is not a launched process (the mesh); call the result to unregister. */
export function cleanupOnSignal(cleanup: () => Promise<void>): () => void {
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

/** On SIGINT/SIGTERM: run the registered clean-ups (3 s at most), then exit; the exit handler kills the rest. */
export function stopOnSignal(): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      process.stderr.write(`bench: ${signal} received, stopping what it started\n`);
      const all = Promise.all([...cleanups].map((cleanup) => cleanup().catch(() => {})));
      void Promise.race([all, sleep(3000)]).then(() => process.exit(signal === "SIGINT" ? 130 : 143));
    });
  }
}

export function launch(name: string, command: string, args: string[], options: LaunchOptions = {}): Proc {
  const listeners = new Set<(line: string, at: number) => void>();
  const program = new ChildProgram({
    name,
    command,
    args,
    env: options.env,
    cwd: options.cwd,
    onLine: (line) => {
      const at = performance.now();
      for (const listener of listeners) listener(line, at);
    },
  });
  const spawnedAt = performance.now();
  program.start();
  const pid = program.pid;
  const exited = program.exited();

  return {
    name,
    pid,
    spawnedAt,
    exited,
    get running() {
      return program.running;
    },
    output: () => program.output(),
    onLine: (listener) => listeners.add(listener),
    waitForLine(pattern, timeoutMs) {
      return new Promise<number>((resolve, reject) => {
        const done = (error: Error | null, at = 0): void => {
          clearTimeout(timer);
          listeners.delete(listener);
          if (error) reject(error);
          else resolve(at);
        };
        const listener = (line: string, at: number): void => {
          if (pattern.test(line)) done(null, at);
        };
        const timer = setTimeout(() => done(new Error(`${name}: no line matching ${pattern} within ${timeoutMs} ms${tail(program.output())}`)), timeoutMs);
        listeners.add(listener);
        void exited.then(({ code, signal }) => done(new Error(`${name} exited (${signal ?? `code ${code}`}) before printing ${pattern}${tail(program.output())}`)));
      });
    },
    async stop() {
      if (!program.running) return;
      program.signalGroup("SIGTERM");
      await program.stop("SIGTERM", KILL_AFTER_MS);
      // The leader is gone; anything it left in its group goes too.
      program.signalGroup("SIGKILL");
    },
  };
}

/** The last lines a process printed, for an error message. */
export function tail(text: string, lines = 4): string {
  const last = text.trim().split("\n").slice(-lines).join(" | ");
  return last ? `: ${last}` : "";
}

function tryConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Polls `path` until a connection is accepted; resolves with performance.now() at that moment. */
export async function waitConnectable(path: string, proc: Proc, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await tryConnect(path)) return performance.now();
    if (!proc.running) throw new Error(`${proc.name} exited before ${path} accepted connections${tail(proc.output())}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  throw new Error(`${proc.name}: ${path} did not accept connections within ${timeoutMs} ms${tail(proc.output())}`);
}

/** Resident memory of a process and all its descendants, in MB (what the container costs). */
export function treeRssMb(pid: number): number | null {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The parent pid is the 2nd field after the command name, which may contain spaces.
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // Exited while we looked.
    }
  }
  const own = rssMb(pid);
  if (own === null) return null;
  let total = 0;
  for (const queue = [pid]; queue.length > 0; ) {
    const next = queue.pop()!;
    total += rssMb(next) ?? 0;
    queue.push(...(children.get(next) ?? []));
  }
  return total;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
