// type `dbus`: the consumer reaches the provider's own dbus-daemon, authenticated as its role.
//
// D-Bus authenticates a connection with SASL EXTERNAL: after one NUL byte the client sends
// `AUTH EXTERNAL <hex>`, the hex of its uid written in decimal ASCII (uid 0 -> "30"), and the
// daemon accepts the claim only if it equals the socket's peer credential (SO_PEERCRED), then
// applies its XML policy to that uid. `BEGIN` ends the exchange; binary messages follow.
//
//   documented: the role's uid (numeric role as is; else its uid in the provider's /etc/passwd;
//     else 65534) really is the peer: a helper process running as that uid connects to the
//     provider's socket and hands the connected socket back over its IPC channel. Every EXTERNAL
//     claim of the consumer (AUTH and DATA lines, up to BEGIN) is replaced by that uid, so an honest
//     client is accepted and no client can claim another uid. Then every message is filtered
//     (./dbus-filter.ts, ./dbus-policy.ts): the consumer may use the bus name its requirement
//     declares as `interface`, and the bus driver, and nothing else.
//   master: as pv-xconnect master measured (README.md, "Profiles"): the mesh connects itself
//     (uid 0 on a device), rewrites the first `AUTH EXTERNAL <hex>` line only, then splices. So only
//     role root authenticates for one-step clients, a multi-step client (AUTH EXTERNAL, then DATA)
//     becomes uid 0, a client rejected once can send `AUTH EXTERNAL 30` and become root, and
//     nothing is filtered.
// The injected socket is the same as for every type (listenAt: 0755 parents, a 0666 socket).
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Socket } from "node:net";
import { connectProvider, listenAt, splice } from "../proxy";
import { authenticate, relayFiltered } from "./dbus-filter";
import { BUS_DRIVER, ConsumerPolicy, isBusName } from "./dbus-policy";
import type { Injector, Link, MeshOptions } from "./link";

const NOBODY = 65534;
const MAX_SASL_LINE = 16 * 1024;

export interface RoleIdentity {
  uid: number;
  gid: number;
  /** How the uid was found, for the mesh's log line. */
  from: string;
}

/** The uid the provider's bus should see for `role` (xconnect.md: numeric, passwd, else 65534). */
export function roleIdentity(role: string, providerRoot: string): RoleIdentity {
  if (/^\d+$/.test(role)) return { uid: Number(role), gid: Number(role), from: "numeric role" };
  const passwd = join(providerRoot, "etc", "passwd");
  let text = "";
  try {
    text = readFileSync(passwd, "utf8");
  } catch {
    // No passwd in the provider: the role cannot be mapped, so it gets the fallback below.
  }
  for (const line of text.split("\n")) {
    const [name, , uid, gid] = line.split(":");
    if (name === role && /^\d+$/.test(uid ?? "") && /^\d+$/.test(gid ?? "")) {
      return { uid: Number(uid), gid: Number(gid), from: "provider's /etc/passwd" };
    }
  }
  return { uid: NOBODY, gid: NOBODY, from: "not in the provider's /etc/passwd: fallback" };
}

/** The SASL EXTERNAL form of a uid: its decimal digits, hex-encoded (0 -> "30", 65534 -> "3635353334"). */
export function externalId(uid: number): string {
  return Buffer.from(String(uid), "ascii").toString("hex");
}

// Runs as the role's uid: connects, and sends the connected socket to the mesh over IPC (the
// kernel records the connecting process's credentials, which is what the daemon checks).
const CONNECT_AS_HELPER = `
const socket = require("node:net").connect(process.argv[1]);
socket.once("connect", () => process.send("connected", socket, () => process.exit(0)));
socket.once("error", (error) => process.send({ error: error.code || error.message }, () => process.exit(1)));
`;

/** A connection to `path` whose peer credential is `uid`/`gid` (needs root unless it is our own uid). */
function connectAs(path: string, identity: RoleIdentity): Promise<Socket> {
  if (identity.uid === process.getuid?.()) return connected(connectProvider(path));
  return new Promise((resolve, reject) => {
    const helper = spawn(process.execPath, ["-e", CONNECT_AS_HELPER, path], {
      uid: identity.uid,
      gid: identity.gid,
      cwd: "/",
      env: {},
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    helper.once("error", (error: NodeJS.ErrnoException) => reject(new Error(`cannot run as uid ${identity.uid}: ${error.code ?? error.message}`)));
    helper.once("message", (message: unknown, handle: unknown) => {
      if (handle instanceof Socket) resolve(handle);
      else reject(new Error(String((message as { error?: unknown }).error ?? "no socket from the helper")));
    });
    helper.once("exit", (code) => reject(new Error(`helper exited (code ${code}) before connecting`)));
  });
}

function connected(socket: Socket): Promise<Socket> {
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("error", (error: NodeJS.ErrnoException) => reject(new Error(error.code ?? error.message)));
  });
}

/**
 * master: relays the consumer's SASL lines, the first `AUTH EXTERNAL <hex>` with the role's uid,
 * and the daemon's answers, until that first AUTH line; then the sockets are spliced as they are.
 * Resolves with the consumer paused and whatever followed that line put back.
 */
function relayFirstAuth(consumer: Socket, provider: Socket, id: string): Promise<boolean> {
  return new Promise((resolve) => {
    let pending = Buffer.alloc(0);
    let done = false;
    const toConsumer = (chunk: Buffer): void => void consumer.write(chunk);
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      consumer.off("data", fromConsumer);
      provider.off("data", toConsumer);
      consumer.pause();
      provider.pause();
      if (ok && pending.length > 0) consumer.unshift(pending);
      resolve(ok);
    };
    const fromConsumer = (chunk: Buffer): void => {
      pending = Buffer.concat([pending, chunk]);
      for (let end = pending.indexOf("\r\n"); end !== -1; end = pending.indexOf("\r\n")) {
        const raw = pending.subarray(0, end).toString("latin1");
        pending = pending.subarray(end + 2);
        // The NUL byte that opens the stream arrives glued to the first line.
        const nul = raw.startsWith("\0") ? "\0" : "";
        const line = raw.slice(nul.length);
        provider.write(`${nul}${/^AUTH EXTERNAL [0-9A-Fa-f]+$/.test(line) ? `AUTH EXTERNAL ${id}` : line}\r\n`, "latin1");
        if (line.startsWith("AUTH")) return finish(true);
      }
      if (pending.length > MAX_SASL_LINE) finish(false);
    };
    consumer.on("data", fromConsumer);
    provider.on("data", toConsumer);
    consumer.once("close", () => finish(false));
    provider.once("close", () => finish(false));
    consumer.resume();
    provider.resume();
  });
}

async function mediate(consumer: Socket, link: Link, identity: RoleIdentity, options: MeshOptions): Promise<void> {
  const id = externalId(identity.uid);
  const what = `${link.consumer} -> ${link.provider} (${link.name}, role ${link.role})`;
  // Hold the consumer's first bytes until there is a provider connection to send them to.
  consumer.pause();
  consumer.on("error", () => consumer.destroy());
  let provider: Socket;
  try {
    provider = options.profile === "documented" ? await connectAs(link.socketPath, identity) : await connected(connectProvider(link.socketPath));
  } catch (error) {
    const hint = /EACCES/.test(String(error)) ? ` (every directory on the way must be searchable by uid ${identity.uid})` : "";
    options.log(`${what}: cannot reach ${link.socket} as ${options.profile === "documented" ? `uid ${identity.uid}` : "the mesh's uid"}: ${(error as Error).message}${hint}`);
    consumer.destroy();
    return;
  }
  provider.on("error", () => provider.destroy());
  const closeBoth = (why: string | null): void => {
    if (why !== null) options.log(`${what}: connection closed: ${why}`);
    consumer.destroy();
    provider.destroy();
  };

  if (options.profile === "master") {
    if (await relayFirstAuth(consumer, provider, id)) splice(consumer, provider, options);
    else closeBoth(null);
    return;
  }
  const handshake = await authenticate(consumer, provider, id);
  if (!handshake.ok) return closeBoth(handshake.why);
  relayFiltered(consumer, provider, new ConsumerPolicy(allowedName(link)), handshake.rest, closeBoth);
}

/** The bus name a requirement's `interface` declares, or null when it is not one (the default is the type, "dbus"). */
function allowedName(link: Link): string | null {
  return isBusName(link.interface) && link.interface !== BUS_DRIVER ? link.interface : null;
}

export const injectDbus: Injector = async (link, options) => {
  const identity = roleIdentity(link.role, link.providerRoot);
  options.log(`${link.consumer}: dbus role ${link.role} -> uid ${identity.uid} (${identity.from}), profile ${options.profile}`);
  if (options.profile === "documented") {
    const allowed = allowedName(link);
    options.log(`${link.consumer}: dbus filter: ${allowed === null ? `interface "${link.interface}" is not a bus name: the bus driver only` : `${allowed} and the bus driver only`}`);
  }
  return listenAt(link.targetPath, (consumer) => void mediate(consumer, link, identity, options));
};
