// What the guest runners (guest.ts, guest-wayland.ts) share: result lines on the console, the
// programs they start with their output relayed, and a question to the host on the serial line.
// Console lines: the programs' own output prefixed with their name ("drm-master| ..."), and
// `GUEST ...` result lines the host test parses.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

const APP = "/repo/dist";
const PROGRAM_TIMEOUT_MS = 30_000;

export function say(line: string): void {
  process.stdout.write(`GUEST ${line}\n`);
}

export interface Run {
  lines: string[];
  exited: Promise<{ code: number | null; signal: string | null }>;
  waitFor(pattern: RegExp): Promise<string>;
  kill(signal: NodeJS.Signals): void;
}

/** Starts /repo/dist/<program>/main.js, echoing its output as "<program>| line"; SIGKILL after `timeoutMs`. */
export function run(program: string, args: string[], timeoutMs = PROGRAM_TIMEOUT_MS): Run {
  const child = spawn("/usr/bin/node", [`${APP}/${program}/main.js`, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      waiters.forEach((wake) => wake());
      resolve({ code, signal });
    }),
  );
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on("line", (line) => {
      lines.push(line);
      process.stdout.write(`${program}| ${line}\n`);
      waiters.forEach((wake) => wake());
    });
  }
  return {
    lines,
    exited,
    kill: (signal) => child.kill(signal),
    async waitFor(pattern) {
      for (;;) {
        const found = lines.find((line) => pattern.test(line));
        if (found !== undefined) return found;
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${program} exited without printing ${pattern}`);
        await new Promise<void>((resolve) => waiters.add(resolve));
      }
    },
  };
}

/** Waits for the program's exit and says how it ended: `GUEST EXIT <name> code=N signal=S`. */
export async function finished(name: string, running: Run): Promise<void> {
  const { code, signal } = await running.exited;
  say(`EXIT ${name} code=${code} signal=${signal}`);
}

/** Says `GUEST <request>` and waits for the host's `answer` on the console; false after `timeoutMs`. */
export function askHost(request: string, answer: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    // Listening before asking: the answer cannot come before the question, but it can come quickly.
    const input = createInterface({ input: process.stdin });
    const timer = setTimeout(() => done(false), timeoutMs);
    input.on("line", (line) => line.trim() === answer && done(true));
    say(request);
    function done(ok: boolean): void {
      clearTimeout(timer);
      input.close();
      process.stdin.pause();
      resolve(ok);
    }
  });
}
