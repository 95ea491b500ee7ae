// rest-client: the consumer side of the REST-over-unix-socket pattern.
//
// Requires service `api` (args.json), which pv-xconnect injects at /run/pv/services/api.sock.
// Every 5 s it sends `GET /info` on a fresh connection and prints the status and the JSON body,
// which names the identity the provider saw (client and role, "unknown" under pv-xconnect master).
// One request per connection: the documented header injection applies to a connection's first
// request. The reply is framed by Content-Length and the client closes the connection itself,
// because pv-xconnect master never forwards the provider's close. Node's own HTTP client does all
// of it (no dependency): a client that sends a request every few seconds needs nothing more, and
// stays about 30 MB smaller than with undici (bench/README.md, "memory").
//
// Run:  node dist/rest-client/main.js [--socket PATH] [--interval SECONDS] [--count N] [--wait SECONDS]
//       (PV_ROOT=DIR moves the default path; --count N exits 0 after N good replies, or 1 after
//       --wait seconds, 30 by default, without one; --help lists everything)
// Stop: SIGTERM or Ctrl-C: exits 0.
import { request } from "node:http";
import { parseCommandLine } from "../../shared/cli";
import { everyTick, socketProblem, tickOptions, tickOptionSpecs } from "../../shared/client";
import { log, reason } from "../../shared/log";
import { devicePath, ROOT_ENV } from "../../shared/paths";
import { runMain } from "../../shared/run";
import { stopSignal } from "../../shared/shutdown";

const SOCKET_PATH = "/run/pv/services/api.sock";
const INTERVAL_SECONDS = 5;
const REPLY_TIMEOUT_MS = 3000;

export interface InfoReply {
  status: number;
  body: string;
}

/**
 * One `GET /info` on its own connection (Node's own HTTP client speaks HTTP over a unix socket:
 * `socketPath`), closed once the reply is in, whatever happened. The whole exchange, connect to
 * last byte, gets `timeoutMs`.
 */
export function getInfo(path: string, timeoutMs = REPLY_TIMEOUT_MS): Promise<InfoReply> {
  return new Promise((resolve, reject) => {
    // The deadline is a plain timer, cleared when the request closes. (Node 20's AbortSignal.timeout()
    // keeps about 400 bytes per request alive after it fires: a client that runs for months must not.)
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), timeoutMs);
    // agent: false gives this request a connection of its own, not one from a keep-alive pool.
    const req = request({ socketPath: path, path: "/info", agent: false, signal: deadline.signal }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("error", reject);
      // "end" comes once Content-Length bytes are in, whether or not the provider closes.
      response.on("end", () => {
        resolve({ status: response.statusCode ?? 0, body });
        req.destroy();
      });
    });
    req.on("error", reject);
    req.on("close", () => clearTimeout(timer));
    req.end();
  });
}

/** The plain-words reason for an expected failure, or null. */
function explain(path: string, error: unknown): string | null {
  switch (reason(error)) {
    case "ABORT_ERR":
      return `no reply from ${path} within ${REPLY_TIMEOUT_MS} ms`;
    case "ECONNRESET":
      // Node's words for a connection closed before the reply was complete ("socket hang up", "aborted").
      return `connection to ${path} closed before the reply was complete`;
    default:
      return socketProblem(path, error);
  }
}

async function main(): Promise<number> {
  const { values } = parseCommandLine({
    name: "rest-client",
    summary: "Consumer of the REST-over-unix-socket pattern: GET /info on the injected socket every few seconds, one request per connection.",
    options: {
      socket: { type: "string", value: "PATH", default: devicePath(SOCKET_PATH), help: "the socket pv-xconnect injects (service api)" },
      ...tickOptionSpecs(INTERVAL_SECONDS),
    },
    env: ROOT_ENV,
    examples: ["rest-client --socket /tmp/api.sock --count 1"],
  });
  const path = values.socket;
  const ticks = tickOptions(values);
  log(`rest-client: GET /info on ${path}, every ${ticks.intervalSeconds} s`);

  const stopping = stopSignal();
  await everyTick(ticks, stopping, {
    async exchange() {
      const reply = await getInfo(path);
      if (reply.status !== 200) return `GET /info -> ${reply.status} (not 200): ${reply.body}`;
      log(`GET /info -> 200 ${reply.body}`);
      return null;
    },
    explain: (error) => explain(path, error),
  });
  return 0;
}

if (require.main === module) runMain(main);
