// The load generators. Each runs in a process of its own (`node dist/bench/main.js --worker KIND
// --options JSON`), never inside the server under test nor inside the runner, and prints one JSON
// line with what it measured. Every one is bounded by time: a warm-up (not counted), then the
// measured window, with a fixed number of requests in flight.
import { connect } from "node:net";
import { performance } from "node:perf_hooks";
import { Message, sessionBus, type MessageBus } from "dbus-next";
import { Pool } from "undici";
import { percentile } from "./lib/stats";

export interface LoadOptions {
  socket: string;
  /** Requests (or connections, or calls) in flight at any time. */
  concurrency: number;
  warmupSeconds: number;
  seconds: number;
}

export interface LoadResult {
  /** Completed operations in the measured window, and per second. */
  count: number;
  perSecond: number;
  errors: number;
  /** Latency of the operations completed in the window (milliseconds). */
  p50Ms: number;
  p99Ms: number;
  /** The first reply, so the runner can check that ours and the baseline answer the same. */
  sample: string;
}

/**
 * Runs `concurrency` loops of `operation` for warm-up + window, timing those that finish inside
 * the window. An operation that fails counts as an error (and is not retried faster than 1 ms).
 */
async function drive(options: LoadOptions, operation: () => Promise<string>): Promise<LoadResult> {
  const start = performance.now();
  const windowStart = start + options.warmupSeconds * 1000;
  const end = windowStart + options.seconds * 1000;
  const latencies: number[] = [];
  let errors = 0;
  let sample = "";
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      while (performance.now() < end) {
        const began = performance.now();
        try {
          const reply = await operation();
          sample ||= reply;
          const finished = performance.now();
          if (began >= windowStart && finished <= end) latencies.push(finished - began);
        } catch {
          if (performance.now() >= windowStart) errors++;
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
      }
    }),
  );
  return {
    count: latencies.length,
    perSecond: latencies.length / options.seconds,
    errors,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    sample,
  };
}

/**
 * `GET /info` over HTTP/1.1 with undici, `concurrency` connections,
 * kept alive when the server allows it. Upstream's http.server answers HTTP/1.0 and closes every
 * connection; undici then reconnects for the next request, as any client would have to.
 */
async function http(options: LoadOptions): Promise<LoadResult> {
  const pool = new Pool("http://localhost", { socketPath: options.socket, connections: options.concurrency, pipelining: 1 });
  try {
    return await drive(options, async () => {
      const response = await pool.request({ method: "GET", path: "/info" });
      const body = await response.body.text();
      if (response.statusCode !== 200) throw new Error(`status ${response.statusCode}`);
      return body;
    });
  } finally {
    await pool.destroy();
  }
}

const ECHO_PAYLOAD = Buffer.alloc(64, "pv-examples echo ");

/** One connection per operation: connect, send 64 bytes, read the 64 back, close. */
async function echoConnect(options: LoadOptions): Promise<LoadResult> {
  const once = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const socket = connect(options.socket);
      let received = 0;
      socket.once("error", reject);
      socket.once("connect", () => socket.write(ECHO_PAYLOAD));
      socket.on("data", (chunk: Buffer) => {
        received += chunk.length;
        if (received < ECHO_PAYLOAD.length) return;
        socket.destroy();
        resolve(`${received} bytes echoed`);
      });
      socket.once("end", () => received < ECHO_PAYLOAD.length && reject(new Error("closed before the echo")));
    });
  return drive(options, once);
}

const BUS_NAME = "org.pantavisor.Example";
const GET_INFO = { destination: BUS_NAME, path: "/org/pantavisor/Example", interface: BUS_NAME, member: "GetInfo" };
// Answered by dbus-daemon itself: the bus's own cost, with no service behind it (the limit).
const GET_ID = { destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus", member: "GetId" };

/** One method call over one bus connection, `concurrency` calls in flight. */
async function dbusCalls(options: LoadOptions, call: typeof GET_INFO): Promise<LoadResult> {
  const bus: MessageBus = sessionBus({ busAddress: `unix:path=${options.socket}`, authMethods: ["EXTERNAL"] });
  try {
    return await drive(options, async () => {
      const reply = await bus.call(new Message(call));
      return String(reply?.body[0]);
    });
  } finally {
    bus.disconnect();
    // Reason for the cast: dbus-next's disconnect() half-closes; the stream is not in its types.
    (bus as unknown as { _connection: { stream: { destroy(): void } } })._connection.stream.destroy();
  }
}

export const LOADS: Record<string, (options: LoadOptions) => Promise<LoadResult>> = {
  http,
  "echo-connect": echoConnect,
  "dbus-calls": (options) => dbusCalls(options, GET_INFO),
  "dbus-daemon-calls": (options) => dbusCalls(options, GET_ID),
};
