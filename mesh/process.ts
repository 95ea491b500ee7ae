// A program bundle run as a child process, with its output kept line by line: what the mesh uses
// for each "container", what the tests use to run a bundle on its own, and what the benchmarks
// build their processes on (there also for other executables: the baselines, Weston).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ProgramOptions {
  /** Label for output lines and errors (the container name). */
  name: string;
  /** The bundle to run with this Node (dist/<program>/main.js)... */
  bundle?: string;
  /** ...or an executable to run instead (a benchmark's baseline). */
  command?: string;
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Run as this user and group (needs root). */
  uid?: number;
  gid?: number;
  /** Called for every line the program prints. */
  onLine?: (line: string, stream: "stdout" | "stderr") => void;
}

// Each program runs in a process group of its own, like a container: SIGKILL goes to the whole
// group (dbus-daemon or Weston die with the program that started them, as in a container that is
// killed), while SIGTERM goes to the program alone, which stops its children itself.
// Groups still running when this process exits (a crash, an uncaught error, a closed pipe) are
// killed on the way out, so no "container" outlives the mesh or the test that started it.
const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of live) killGroup(child, "SIGKILL");
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  } catch {
    child.kill(signal); // the group is already gone
  }
}

export class ChildProgram {
  private child: ChildProcess | null = null;
  private lines: string[] = [];
  private waiters = new Set<() => void>();
  private exitPromise: Promise<Exit> | null = null;

  constructor(readonly options: ProgramOptions) {}

  /** The running process id, or -1 when it is not running. */
  get pid(): number {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null ? (this.child.pid ?? -1) : -1;
  }

  get running(): boolean {
    return this.pid > 0;
  }

  /** Everything printed so far (stdout and stderr interleaved as received), one line each. */
  output(): string {
    return this.lines.join("\n");
  }

  start(): void {
    if (this.running) throw new Error(`${this.options.name} is already running`);
    const { bundle, command, args = [] } = this.options;
    if (command === undefined && bundle === undefined) throw new Error(`${this.options.name}: neither a bundle nor a command to run`);
    const child = spawn(command ?? process.execPath, command !== undefined ? args : [bundle!, ...args], {
      cwd: this.options.cwd,
      uid: this.options.uid,
      gid: this.options.gid,
      env: { ...process.env, ...this.options.env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    this.child = child;
    live.add(child);
    child.on("exit", () => live.delete(child));
    this.exitPromise = new Promise((resolve) => {
      child.on("close", (code, signal) => {
        this.notify();
        resolve({ code, signal });
      });
    });
    child.on("error", (error) => this.record(`(cannot start ${command ?? bundle}: ${error.message})`, "stderr"));
    for (const stream of ["stdout", "stderr"] as const) {
      let partial = "";
      child[stream]!.setEncoding("utf8").on("data", (chunk: string) => {
        const parts = (partial + chunk).split("\n");
        partial = parts.pop()!;
        for (const line of parts) this.record(line, stream);
      });
      child[stream]!.on("end", () => {
        if (partial) this.record(partial, stream);
        partial = "";
      });
    }
  }

  /** Resolves when the current run ends. */
  exited(): Promise<Exit> {
    if (this.exitPromise === null) throw new Error(`${this.options.name} was never started`);
    return this.exitPromise;
  }

  /** Sends `signal`; after `timeoutMs` without an exit, SIGKILL. Resolves with how it ended. */
  async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 5000): Promise<Exit> {
    if (this.child === null || this.exitPromise === null) throw new Error(`${this.options.name} was never started`);
    const child = this.child;
    if (this.running) {
      if (signal === "SIGKILL") killGroup(child, signal);
      else child.kill(signal);
    }
    const timer = setTimeout(() => killGroup(child, "SIGKILL"), timeoutMs);
    try {
      return await this.exitPromise;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends `signal` to the program's whole process group (it and whatever it started). */
  signalGroup(signal: NodeJS.Signals): void {
    if (this.child !== null) killGroup(this.child, signal);
  }

  /** Resolves with the first line (from `fromLine` on) matching `pattern`; rejects after `timeoutMs` saying what was seen. */
  async waitForOutput(pattern: RegExp, timeoutMs = 10_000, fromLine = 0): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.slice(fromLine).find((line) => pattern.test(line));
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      const exited = this.child !== null && !this.running && this.child.stdout?.readableEnded && this.child.stderr?.readableEnded;
      if (left <= 0 || exited) {
        const why = left <= 0 ? `within ${timeoutMs} ms` : "before it exited";
        throw new Error(`${this.options.name}: no line matching ${pattern} ${why}; output:\n${this.output()}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(left, 1000));
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.add(done);
      });
    }
  }

  /** The number of lines so far, to wait only for lines printed after this point. */
  mark(): number {
    return this.lines.length;
  }

  private record(line: string, stream: "stdout" | "stderr"): void {
    this.lines.push(line);
    this.options.onLine?.(line, stream);
    this.notify();
  }

  private notify(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiters) wake();
  }
}

/** Whether `command` can be run: on PATH, or an executable path. */
export function onPath(command: string): boolean {
  return spawnSync("sh", ["-c", 'command -v "$0"', command], { stdio: "ignore" }).status === 0;
}

/**
 * Resident memory of a process in MB, or null when it is gone: VmRSS (everything resident) or
 * RssAnon (its private memory only: heap and stacks, not the pages of its executable and libraries,
 * which processes running the same file share).
 */
export function rssMb(pid: number, field: "VmRSS" | "RssAnon" = "VmRSS"): number | null {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}
