// unix-client: the consumer side of the raw unix socket pattern.
//
// Requires service `raw` (args.json), which pv-xconnect injects at /run/pv/services/raw.sock.
// Every 5 s it connects, sends "Hello from client at <ISO time>", reads back exactly that many
// bytes, prints them and closes. It never waits for EOF: pv-xconnect master does not forward one.
// A missing socket or a refused connection is expected while the provider starts or restarts:
// one line, then retry at the next tick.
//
// Run:  node dist/unix-client/main.js [--socket PATH] [--interval SECONDS] [--count N] [--wait SECONDS]
//       (PV_ROOT=DIR moves the default path; --count N exits 0 after N good echoes, or 1 after
//       --wait seconds, 30 by default, without one; --help lists everything)
// Stop: SIGTERM or Ctrl-C: exits 0.
import { connect } from "node:net";
import { parseCommandLine } from "../../shared/cli";
import { everyTick, socketProblem, tickOptions, tickOptionSpecs } from "../../shared/client";
import { log } from "../../shared/log";
import { devicePath, ROOT_ENV } from "../../shared/paths";
import { runMain } from "../../shared/run";
import { stopSignal } from "../../shared/shutdown";

const SOCKET_PATH = "/run/pv/services/raw.sock";
const INTERVAL_SECONDS = 5;
const REPLY_TIMEOUT_MS = 3000;

/** Sends `message` and resolves with exactly as many bytes as were sent, or rejects saying why. */
export function echo(path: string, message: string, timeoutMs = REPLY_TIMEOUT_MS): Promise<Buffer> {
  const sent = Buffer.from(message);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const socket = connect(path, () => socket.write(sent));
    const timer = setTimeout(() => finish(new Error(`no echo within ${timeoutMs} ms (got ${received} of ${sent.length} bytes)`)), timeoutMs);
    socket.on("data", (chunk) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= sent.length) finish();
    });
    socket.on("error", (error) => finish(error));
    socket.on("close", () => finish(new Error(`connection closed after ${received} of ${sent.length} bytes`)));
    // Runs once: the first outcome wins, and the socket is always released here.
    let finished = false;
    function finish(error?: Error): void {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(Buffer.concat(chunks).subarray(0, sent.length));
    }
  });
}

async function main(): Promise<number> {
  const { values } = parseCommandLine({
    name: "unix-client",
    summary: "Consumer of the raw unix socket pattern: sends a line to the injected socket every few seconds and checks that the same bytes come back.",
    options: {
      socket: { type: "string", value: "PATH", default: devicePath(SOCKET_PATH), help: "the socket pv-xconnect injects (service raw)" },
      ...tickOptionSpecs(INTERVAL_SECONDS),
    },
    env: ROOT_ENV,
    examples: ["unix-client --socket /tmp/raw.sock --interval 1 --count 2"],
  });
  const path = values.socket;
  const ticks = tickOptions(values);
  log(`unix-client: socket ${path}, every ${ticks.intervalSeconds} s`);

  const stopping = stopSignal();
  await everyTick(ticks, stopping, {
    async exchange() {
      const message = `Hello from client at ${new Date().toISOString()}`;
      const reply = await echo(path, message);
      if (!reply.equals(Buffer.from(message))) return `echo MISMATCH (${reply.length} bytes): not the bytes sent`;
      log(`echo OK (${reply.length} bytes): ${reply.toString()}`);
      return null;
    },
    explain: (error) => socketProblem(path, error),
  });
  return 0;
}

if (require.main === module) runMain(main);
