// rest-client: the consumer side of the REST-over-unix-socket pattern.
//
// Requires service `api` (args.json), which pv-xconnect injects at /run/pv/services/api.sock.
// Every 5 s it sends `GET /info` on a fresh connection and prints the status and the JSON body,
// which names the identity the provider saw (client and role, "unknown" under pv-xconnect master).
// One request per connection: the documented header injection applies to a connection's first
// request. The reply is framed by Content-Length and the client closes the connection itself,
// because pv-xconnect master never forwards the provider's close.
//
// Run:  node dist/rest-client/main.js [--socket PATH] [--interval SECONDS] [--count N] [--wait SECONDS]
//       (PV_ROOT=DIR moves the default path; --count N exits 0 after N good replies, or 1 after
//       --wait seconds, 30 by default, without one; --help lists everything)
// Stop: SIGTERM or Ctrl-C: exits 0.
import { Client } from "undici";
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

/** One `GET /info` on its own connection, closed afterwards whatever happened. */
export async function getInfo(path: string, timeoutMs = REPLY_TIMEOUT_MS): Promise<InfoReply> {
  const client = new Client("http://localhost", {
    socketPath: path,
    connectTimeout: timeoutMs,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    pipelining: 0,
  });
  try {
    const response = await client.request({ method: "GET", path: "/info" });
    return { status: response.statusCode, body: await response.body.text() };
  } finally {
    await client.destroy();
  }
}

/** The plain-words reason for an expected failure, or null. */
function explain(path: string, error: unknown): string | null {
  // undici wraps the socket's error: the errno is on its cause.
  const cause = (error as { cause?: unknown }).cause ?? error;
  switch (reason(cause)) {
    case "UND_ERR_HEADERS_TIMEOUT":
    case "UND_ERR_BODY_TIMEOUT":
    case "UND_ERR_CONNECT_TIMEOUT":
      return `no reply from ${path} within ${REPLY_TIMEOUT_MS} ms`;
    case "UND_ERR_SOCKET":
      return `connection to ${path} closed before the reply was complete`;
    default:
      return socketProblem(path, cause);
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
