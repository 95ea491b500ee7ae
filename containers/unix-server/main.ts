// unix-server: the provider side of the raw unix socket pattern.
//
// Exports service `raw` (type `unix`, see services.json) by listening on /run/example/raw.sock and
// echoing every byte back to each client. pv-xconnect injects a proxy of this socket into each
// consumer that requires `raw` (unix-client sees it at /run/pv/services/raw.sock).
//
// Run:  node dist/unix-server/main.js [--socket PATH]      (PV_ROOT=DIR moves the default path; --help)
// Stop: SIGTERM or Ctrl-C: stops accepting, closes clients, removes the socket, exits 0.
//
// Simplified: no framing or protocol, just bytes; that is the point of the `unix` service type.
import { createServer, type Server, type Socket } from "node:net";
import { parseCommandLine } from "../../shared/cli";
import { log, logError } from "../../shared/log";
import { devicePath, ROOT_ENV } from "../../shared/paths";
import { runMain } from "../../shared/run";
import { stopSignal, untilAborted } from "../../shared/shutdown";
import { listenError, prepareSocketPath, removeSocket } from "../../shared/socket";

const SOCKET_PATH = "/run/example/raw.sock";

export interface EchoServer {
  path: string;
  close(): Promise<void>;
}

/** Listens on `path` and echoes. Resolves once the socket accepts connections. */
export async function start(path: string): Promise<EchoServer> {
  prepareSocketPath(path);
  const clients = new Set<Socket>();
  const server: Server = createServer((client) => {
    clients.add(client);
    // pipe() is the backpressure: it stops reading from a client while the echo it owes that
    // client is still queued, so a client that never reads cannot grow our memory.
    client.pipe(client);
    client.on("error", (error) => log(`client error: ${error.message}`));
    client.on("close", () => clients.delete(client));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) => reject(listenError(path, error)));
    server.listen(path, () => {
      server.removeAllListeners("error");
      resolve();
    });
  });
  server.on("error", (error) => logError(`server error on ${path}: ${error.message}`));

  return {
    path,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const client of clients) client.destroy();
      await closed;
      removeSocket(path);
    },
  };
}

async function main(): Promise<number> {
  const { values } = parseCommandLine({
    name: "unix-server",
    summary: "Provider of the raw unix socket pattern (service raw): echoes every byte back to each client.",
    options: { socket: { type: "string", value: "PATH", default: devicePath(SOCKET_PATH), help: "where to listen" } },
    env: ROOT_ENV,
    examples: ["unix-server --socket /tmp/raw.sock"],
  });
  const path = values.socket;
  const stopping = stopSignal();

  const server = await start(path);
  log(`unix-server: echoing on ${path}`);
  await untilAborted(stopping);
  log(`unix-server: ${String(stopping.reason)} received, shutting down`);
  await server.close();
  return 0;
}

if (require.main === module) runMain(main);
