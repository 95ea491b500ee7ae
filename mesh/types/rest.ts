// type `rest`: HTTP over the unix socket.
//   documented: every request gets `X-PV-Client` (the consumer's container name) and `X-PV-Role`
//               (the link's role), and any `X-PV-*` header the client sent itself is dropped, so a
//               provider can rely on them.
//   master:     a plain byte proxy: nothing injected, a client's own `X-PV-Role: admin` arrives as is.
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import { listenAt, spliceProxy } from "../proxy";
import type { Injector, Link } from "./link";

// Hop-by-hop headers belong to one connection, not to the message being forwarded.
const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection"]);

/** The request's headers without the client's own X-PV-* and hop-by-hop ones, plus the mesh's identity. */
function forwardedHeaders(rawHeaders: string[], link: Link): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (lower.startsWith("x-pv-") || HOP_BY_HOP.has(lower)) continue;
    const previous = headers[name];
    headers[name] = previous === undefined ? rawHeaders[i + 1]! : [previous, rawHeaders[i + 1]!].flat();
  }
  headers["X-PV-Client"] = link.consumer;
  headers["X-PV-Role"] = link.role;
  return headers;
}

export const injectRest: Injector = async (link, options) => {
  if (options.profile === "master") return spliceProxy(link, options);

  const agent = new Agent({ keepAlive: true });
  const http = createServer((incoming: IncomingMessage, outgoing: ServerResponse) => {
    const upstream = request(
      { socketPath: link.socketPath, agent, method: incoming.method, path: incoming.url, headers: forwardedHeaders(incoming.rawHeaders, link) },
      (response) => {
        const headers: Record<string, string | string[]> = {};
        for (const [name, value] of Object.entries(response.headers)) {
          if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
        }
        outgoing.writeHead(response.statusCode ?? 502, response.statusMessage, headers);
        response.pipe(outgoing);
      },
    );
    upstream.on("error", (error: NodeJS.ErrnoException) => {
      options.log(`${link.consumer} -> ${link.provider} (${link.name}): ${incoming.method} ${incoming.url}: ${error.code ?? error.message}`);
      if (outgoing.headersSent) outgoing.destroy();
      else outgoing.writeHead(502, { "content-type": "application/json" }).end(JSON.stringify({ error: "Bad Gateway", message: `provider unreachable: ${error.code ?? error.message}` }));
    });
    incoming.pipe(upstream);
  });
  // listenAt owns the socket file and its connections; the HTTP server only parses them.
  const injection = await listenAt(link.targetPath, (consumer) => http.emit("connection", consumer));
  return {
    async close() {
      await injection.close();
      http.close();
      agent.destroy();
    },
  };
};
