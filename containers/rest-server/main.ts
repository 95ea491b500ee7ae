// rest-server: the provider side of the REST-over-unix-socket pattern.
//
// Exports service `api` (type `rest`, see services.json): a fastify app on /run/example/api.sock.
// `GET /info` reports who is calling, as the mesh told us: pv-xconnect (as documented) injects
// `X-PV-Client` (the consumer container's name) and `X-PV-Role` (the link's role) into each request.
// Those headers are labels, never credentials: pv-xconnect master injects nothing and passes on
// whatever the client sent, so a caller can claim any role. Absent headers read "unknown", and
// nothing here grants anything because of them (`GET /admin` is refused whatever the role says).
//
// Run:  node dist/rest-server/main.js [--socket PATH]      (PV_ROOT=DIR moves the default path; --help)
// Try:  curl --unix-socket /run/example/api.sock http://localhost/info
// Stop: SIGTERM or Ctrl-C: closes the server, removes the socket, exits 0.
import fastify, { type FastifyInstance } from "fastify";
import { parseCommandLine } from "../../shared/cli";
import { log } from "../../shared/log";
import { devicePath, ROOT_ENV } from "../../shared/paths";
import { runMain } from "../../shared/run";
import { stopSignal, untilAborted } from "../../shared/shutdown";
import { listenError, prepareSocketPath, removeSocket } from "../../shared/socket";

const SOCKET_PATH = "/run/example/api.sock";
const SERVICE_NAME = "rest-example";
const BODY_LIMIT_BYTES = 16 * 1024;
const MAX_IDENTITY_LENGTH = 256;

/** The value of an identity header, or "unknown" when the mesh (or the caller) sent none. */
function identity(header: string | string[] | undefined): string {
  const value = (Array.isArray(header) ? header[0] : header)?.trim();
  return value ? value.slice(0, MAX_IDENTITY_LENGTH) : "unknown";
}

/**
 * This app declares no JSON schemas, so it needs no schema compilers. Saying so keeps fastify from
 * loading its default ones (ajv and fast-json-stringify) at start-up (bench/README.md).
 */
const NO_SCHEMAS = {
  buildValidator: () => () => {
    throw new Error("rest-server declares no JSON schemas: remove schemaController to use fastify's default validator");
  },
  buildSerializer: () => () => (data: unknown) => JSON.stringify(data),
};

/** The app with its routes; it does not listen (tests call `inject`, `start` listens). */
export function buildApp(): FastifyInstance {
  const app = fastify({ logger: false, bodyLimit: BODY_LIMIT_BYTES, return503OnClosing: true, schemaController: { compilersFactory: NO_SCHEMAS } });

  app.get("/info", async (request) => ({
    service: SERVICE_NAME,
    status: "active",
    role: identity(request.headers["x-pv-role"]),
    client: identity(request.headers["x-pv-client"]),
  }));

  app.get("/admin", async (_request, reply) =>
    reply.code(403).send({ error: "Forbidden", message: "identity headers are labels, not credentials: nothing is granted by role" }),
  );

  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: "Not Found", message: `no route ${request.method} ${request.url}` });
  });

  // Anything a client gets wrong (bad JSON, too large a body, bad content type) is a 4xx with a
  // JSON body; only our own bugs would be a 500.
  app.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    void reply.code(status).send({ error: status === 500 ? "Internal Server Error" : "Bad Request", message: error.message });
  });
  return app;
}

export interface RestServer {
  path: string;
  close(): Promise<void>;
}

/** Builds the app and listens on `path`. */
export async function start(path: string): Promise<RestServer> {
  prepareSocketPath(path);
  const app = buildApp();
  await app.listen({ path }).catch((error: unknown) => {
    throw listenError(path, error);
  });
  return {
    path,
    async close() {
      // Idle keep-alive connections are closed at once; busy ones get half a second to finish.
      const deadline = setTimeout(() => app.server.closeAllConnections(), 500);
      await app.close();
      clearTimeout(deadline);
      removeSocket(path);
    },
  };
}

async function main(): Promise<number> {
  const { values } = parseCommandLine({
    name: "rest-server",
    summary: "Provider of the REST-over-unix-socket pattern (service api): GET /info reports the caller the mesh names in X-PV-Client / X-PV-Role.",
    options: { socket: { type: "string", value: "PATH", default: devicePath(SOCKET_PATH), help: "where to listen" } },
    env: ROOT_ENV,
    examples: ["rest-server --socket /tmp/api.sock", "curl --unix-socket /tmp/api.sock http://localhost/info"],
  });
  const path = values.socket;
  const stopping = stopSignal();

  const server = await start(path);
  log(`rest-server: serving GET /info on ${path}`);
  await untilAborted(stopping);
  log(`rest-server: ${String(stopping.reason)} received, shutting down`);
  await server.close();
  return 0;
}

if (require.main === module) runMain(main);
