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
//
// Speed: each connection reads into one buffer of its own, 256 KiB at a time (net.Socket's `onread`),
// and writes straight back from it; the usual `client.pipe(client)` gets a new 64 KiB chunk per read.
// That makes the stream about 4x faster (bench/README.md). The buffer is reused only once its echo
// is written, which is also the backpressure: a client that does not read is not read either.
import { createServer, Socket, type Server } from "node:net";
import { parseCommandLine } from "../../shared/cli";
import { log, logError } from "../../shared/log";
import { devicePath, ROOT_ENV } from "../../shared/paths";
import { runMain } from "../../shared/run";
import { stopSignal, untilAborted } from "../../shared/shutdown";
import { listenError, prepareSocketPath, removeSocket } from "../../shared/socket";

const SOCKET_PATH = "/run/example/raw.sock";
const READ_SIZE = 256 * 1024;

export interface EchoServer {
  path: string;
  close(): Promise<void>;
}

/** Listens on `path` and echoes. Resolves once the socket accepts connections. */
export async function start(path: string): Promise<EchoServer> {
  prepareSocketPath(path);
  const clients = new Set<Socket>();
  // pauseOnConnect: a connection reads nothing until echo() has taken it over.
  const server: Server = createServer({ pauseOnConnect: true }, (accepted) => {
    const client = echo(accepted);
    clients.add(client);
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

/**
 * Echoes everything a connection sends. net.Socket takes `onread` only in its constructor, and the
 * server builds the sockets it accepts itself, so the accepted connection's handle moves to a new
 * Socket that reads into `buffer` (the accepted one keeps the server's count and goes with it).
 */
function echo(accepted: Socket): Socket {
  // Reason for the cast: the handle is not part of net.Socket's typed API.
  const internals = accepted as unknown as { _handle: unknown };
  const handle = internals._handle;
  internals._handle = null;
  const buffer = Buffer.allocUnsafe(READ_SIZE);
  // Reading resumes once nothing queued still points into `buffer`.
  const onEchoWritten = (): void => {
    if (client.writableLength === 0) client.resume();
  };
  // Reason for the cast: `handle` is not among net.Socket's typed constructor options.
  const client: Socket = new Socket({
    handle,
    onread: {
      buffer,
      // Returning false pauses reading: the echo is queued (the client reads slower than it sends).
      callback: (bytes: number) => {
        client.write(buffer.subarray(0, bytes), onEchoWritten);
        return client.writableLength === 0;
      },
    },
  } as ConstructorParameters<typeof Socket>[0]);
  client.once("close", () => accepted.destroy());
  client.resume();
  return client;
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
