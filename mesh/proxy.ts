// The plumbing the service types share: how a target is prepared in the consumer, a listening
// socket injected there, and a splice between each consumer connection and a fresh connection to
// the provider. The two profiles differ only in how a connection ends (README.md, "Profiles"):
//   documented: a half-close is forwarded both ways, like a plain proxy.
//   master:     as pv-xconnect master measured: a consumer's half-close is not forwarded, and when
//               the provider closes, the consumer sees EOF only once it has been idle for
//               `lingerMs` (60 s on a device). No ancillary data either way (node:net carries none).
import { chmodSync, mkdirSync, rmSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { dirname } from "node:path";
import type { Injection, Link, MeshOptions } from "./types/link";

/**
 * Prepares a target the way pv-xconnect does before it injects anything there (a socket, a device
 * node, a link): parent directories created 0755, whatever was at the path removed.
 */
export function clearTarget(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  rmSync(path, { force: true, recursive: true });
}

/** What listenAt counted on one injected socket (the local mesh's GET /xconnect-counters shows it per link). */
export interface ConnectionCounters {
  accepted: number;
  open: number;
  /** Bytes the consumers sent (read from their sockets) and were sent (written to them), open and closed connections. */
  bytesFromConsumers: number;
  bytesToConsumers: number;
}

// The counters of every socket listenAt serves, by its path: every injector that proxies a socket
// goes through listenAt, so the mesh finds a link's counters at the link's target path.
const countersByPath = new Map<string, () => ConnectionCounters>();

/** The counters of the socket listenAt serves at `path`, or undefined when it serves none there (drm, a symlink). */
export function countersAt(path: string): ConnectionCounters | undefined {
  return countersByPath.get(path)?.();
}

/** Binds a listening socket at `path` as pv-xconnect injects one: a cleared target, a 0666 socket any user can reach. */
export async function listenAt(path: string, onConnection: (consumer: Socket) => void): Promise<Injection> {
  clearTarget(path);
  const open = new Set<Socket>();
  // Accepted so far, and the bytes of the connections that are over (open ones are read live).
  const tally = { accepted: 0, bytesRead: 0, bytesWritten: 0 };
  const server = createServer({ allowHalfOpen: true }, (consumer) => {
    open.add(consumer);
    tally.accepted++;
    consumer.on("close", () => {
      open.delete(consumer);
      tally.bytesRead += consumer.bytesRead;
      tally.bytesWritten += consumer.bytesWritten;
    });
    onConnection(consumer);
  });
  const counters = (): ConnectionCounters => ({
    accepted: tally.accepted,
    open: open.size,
    bytesFromConsumers: [...open].reduce((sum, consumer) => sum + consumer.bytesRead, tally.bytesRead),
    bytesToConsumers: [...open].reduce((sum, consumer) => sum + consumer.bytesWritten, tally.bytesWritten),
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      server.off("error", reject);
      resolve();
    });
  });
  chmodSync(path, 0o666);
  countersByPath.set(path, counters);
  return {
    async close() {
      if (countersByPath.get(path) === counters) countersByPath.delete(path);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const consumer of open) consumer.destroy();
      await closed;
      rmSync(path, { force: true });
    },
  };
}

/** Connects to the provider's socket; errors are reported on the returned socket. */
export function connectProvider(path: string): Socket {
  return connect({ path, allowHalfOpen: true });
}

/** Copies bytes both ways between a consumer and a provider connection until both are gone. */
export function splice(consumer: Socket, provider: Socket, options: MeshOptions): void {
  const destroyBoth = (): void => {
    consumer.destroy();
    provider.destroy();
  };
  // A provider socket may arrive already connected (the dbus injector connects it as the role's uid).
  let connected = !provider.pending;
  provider.once("connect", () => (connected = true));
  consumer.on("error", destroyBoth);
  consumer.on("close", () => provider.destroy());
  // A provider that cannot be reached closes the consumer at once under both profiles; one that
  // fails later (a reset when it is killed) ends like a close, so master's linger applies.
  provider.on("error", () => {
    if (!connected || options.profile === "documented") destroyBoth();
  });

  if (options.profile === "documented") {
    consumer.pipe(provider);
    provider.pipe(consumer);
    provider.on("close", () => consumer.end());
    return;
  }

  // master: bytes flow, ends do not. The consumer learns that the provider is gone only after
  // it has been quiet for lingerMs.
  consumer.pipe(provider, { end: false });
  provider.pipe(consumer, { end: false });
  let linger: NodeJS.Timeout | undefined;
  const armLinger = (): void => {
    clearTimeout(linger);
    linger = setTimeout(() => consumer.destroy(), options.lingerMs);
  };
  // The provider is done when it sends EOF (it may keep its half open) or its socket closes.
  const providerDone = (): void => {
    if (linger !== undefined) return;
    armLinger();
    consumer.on("data", armLinger);
  };
  provider.on("end", providerDone);
  provider.on("close", providerDone);
  consumer.on("close", () => clearTimeout(linger));
}

/**
 * The whole injection for a byte-proxy type (unix; rest and wayland under master): a listening
 * socket at the consumer's target, each connection spliced to a new provider connection.
 */
export function spliceProxy(link: Link, options: MeshOptions): Promise<Injection> {
  return listenAt(link.targetPath, (consumer) => {
    const provider = connectProvider(link.socketPath);
    provider.once("error", (error: NodeJS.ErrnoException) =>
      options.log(`${link.consumer} -> ${link.provider} (${link.name}): cannot reach ${link.socket}: ${error.code ?? error.message}`),
    );
    splice(consumer, provider, options);
  });
}
