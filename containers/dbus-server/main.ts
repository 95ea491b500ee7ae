// dbus-server: the provider side of the D-Bus pattern.
//
// Exports service `system-bus` (type `dbus`, see services.json): a private system bus of its own,
// a real dbus-daemon listening on /run/dbus/system_bus_socket, on which it owns
// org.pantavisor.Example and serves GetInfo() -> s at /org/pantavisor/Example. pv-xconnect
// connects each consumer to this bus as the uid of the consumer's role, so the daemon's XML policy
// (/etc/dbus-1/system.d/org.pantavisor.Example.conf) decides per role who may own and call.
// A second service, org.pantavisor.Example.Private (GetInfo() -> s at /org/pantavisor/Example/Private,
// root only), is there for the mesh to refuse: no consumer declares it in its args.json.
//
// Run:  node dist/dbus-server/main.js [--socket PATH] [--config FILE]   (PV_ROOT=DIR moves the defaults; --help)
// Stop: SIGTERM or Ctrl-C: releases the name, disconnects, stops dbus-daemon, exits 0.
//       If dbus-daemon dies, it exits 1 with one line (the container's restart policy brings it back).
//
// Simplified: dbus-daemon keeps the container's root user instead of dropping to `messagebus`, and
// is started with our own system-bus config (--config-file) rather than --system, whose
// /usr/share/dbus-1/system.conf fixes the socket path.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import type { Socket } from "node:net";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { dirname } from "node:path";
import { parseCommandLine } from "../../shared/cli";
import { DBusError, Message, type MessageBus, NameFlag, RequestNameReply, interface as dbusInterface, sessionBus } from "dbus-next";
import { log, reason } from "../../shared/log";
import { devicePath, ROOT_ENV } from "../../shared/paths";
import { FatalError, runMain } from "../../shared/run";
import { stopSignal, untilAborted } from "../../shared/shutdown";
import { prepareSocketPath, removeSocket } from "../../shared/socket";

const SOCKET_PATH = "/run/dbus/system_bus_socket";
const CONFIG_PATH = "/etc/dbus-1/pv-example-system.conf";
const MACHINE_ID_PATH = "/var/lib/dbus/machine-id";
const BUS_NAME = "org.pantavisor.Example";
const OBJECT_PATH = "/org/pantavisor/Example";
const INTERFACE_NAME = "org.pantavisor.Example";
// Byte for byte what the seed's Python service returns (json.dumps spacing).
export const INFO = '{"service": "dbus-example", "status": "active"}';
const PRIVATE_NAME = "org.pantavisor.Example.Private";
const PRIVATE_PATH = "/org/pantavisor/Example/Private";
export const PRIVATE_INFO = '{"service": "org.pantavisor.Example.Private", "status": "active"}';
const STEP_TIMEOUT_MS = 3000;
const READY_TIMEOUT_MS = 5000;

class ExampleInterface extends dbusInterface.Interface {
  GetInfo(): string {
    return INFO;
  }
}
ExampleInterface.configureMembers({ methods: { GetInfo: { inSignature: "", outSignature: "s" } } });
const SIGNATURES: Record<string, string> = { GetInfo: "" };

class PrivateInterface extends dbusInterface.Interface {
  GetInfo(): string {
    return PRIVATE_INFO;
  }
}
PrivateInterface.configureMembers({ methods: { GetInfo: { inSignature: "", outSignature: "s" } } });

// dbus-next's types declare newError(msg: string, ...); the implementation takes the call Message.
const newError = Message.newError as unknown as (call: Message, name: string, text: string) => Message;

/** dbus-next answers a known method called with other argument types as UnknownMethod; say InvalidArgs. */
function rejectWrongSignature(bus: MessageBus, call: Message): boolean {
  const expected = SIGNATURES[call.member];
  if (call.path !== OBJECT_PATH || call.interface !== INTERFACE_NAME || expected === undefined) return false;
  if ((call.signature || "") === expected) return false;
  const text = `${call.member} takes signature "${expected}", got "${call.signature || ""}"`;
  bus.send(newError(call, "org.freedesktop.DBus.Error.InvalidArgs", text));
  return true;
}

/**
 * GetInfo, answered from a method handler, which dbus-next runs before its generic dispatch. The
 * answer never changes, so its reply is written on the wire by getInfoReply() rather than built
 * as a Message for dbus-next to marshal: that marshalling was most of the server's CPU per call
 * (bench/README.md). ExampleInterface still declares GetInfo, for introspection.
 */
function answerGetInfo(bus: MessageBus, call: Message): boolean {
  if (call.member !== "GetInfo" || call.path !== OBJECT_PATH || call.interface !== INTERFACE_NAME || call.signature || !call.sender) return false;
  if (call.flags & NO_REPLY_EXPECTED) return true;
  // Several replies written in one tick leave in one writev: net.Socket queues what arrives while a write is in progress.
  busSocket(bus).write(getInfoReply(bus.newSerial(), call.serial!, call.sender));
  return true;
}

const NO_REPLY_EXPECTED = 0x1;
// GetInfo's reply body, marshalled once: signature "s" is a u32 byte length, the UTF-8 bytes, a NUL.
const INFO_BODY = Buffer.concat([Buffer.alloc(4), Buffer.from(`${INFO}\0`)]);
INFO_BODY.writeUInt32LE(INFO_BODY.length - 5, 0);

/**
 * The bytes of a METHOD_RETURN carrying INFO_BODY, as the D-Bus specification's "Message Format"
 * lays them out (little-endian): a 16-byte header, then the header fields, each a (code, variant)
 * struct aligned to 8 bytes, then the body, aligned to 8. dbus-daemon adds the SENDER field.
 */
export function getInfoReply(serial: number, replySerial: number, destination: string): Buffer {
  const name = Buffer.from(destination);
  const signatureAt = align8(32 + name.length + 1);
  const fieldsEnd = signatureAt + 7;
  const bodyAt = align8(fieldsEnd);
  const reply = Buffer.alloc(bodyAt + INFO_BODY.length);
  reply.write("l\x02\x00\x01", 0, "latin1"); // little-endian, METHOD_RETURN, no flags, protocol 1
  reply.writeUInt32LE(INFO_BODY.length, 4);
  reply.writeUInt32LE(serial, 8);
  reply.writeUInt32LE(fieldsEnd - 16, 12); // byte length of the header fields
  reply.write("\x05\x01u\x00", 16, "latin1"); // field REPLY_SERIAL, a "u": the call's serial
  reply.writeUInt32LE(replySerial, 20);
  reply.write("\x06\x01s\x00", 24, "latin1"); // field DESTINATION, an "s": the caller's unique name
  reply.writeUInt32LE(name.length, 28);
  name.copy(reply, 32);
  reply.write("\x08\x01g\x00\x01s\x00", signatureAt, "latin1"); // field SIGNATURE, a "g": "s"
  INFO_BODY.copy(reply, bodyAt);
  return reply;
}

const align8 = (offset: number): number => (offset + 7) & ~7;

/** The bus connection's socket (not part of dbus-next's typed API); dbus-next writes its own messages to it too. */
function busSocket(bus: MessageBus): Socket {
  return (bus as unknown as { _connection: { stream: Socket } })._connection.stream;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The container's share of a system bus: a machine id, /run/dbus, and no stale socket. */
function prepareBus(socketPath: string): void {
  const machineId = devicePath(MACHINE_ID_PATH);
  if (!existsSync(machineId)) {
    mkdirSync(dirname(machineId), { recursive: true });
    writeFileSync(machineId, `${randomBytes(16).toString("hex")}\n`);
  }
  prepareSocketPath(socketPath);
}

export interface BusServer {
  /** Resolves with one line saying why, if dbus-daemon or our connection to it goes away. */
  failure: Promise<string>;
  close(): Promise<void>;
}

export async function start(socketPath: string, configPath: string, signal: AbortSignal): Promise<BusServer> {
  prepareBus(socketPath);
  // --print-address: dbus-daemon writes its address on stdout once it accepts connections, which
  // tells us it is ready sooner than polling for the socket file would.
  const args = [`--config-file=${configPath}`, `--address=unix:path=${socketPath}`, "--nofork", "--nopidfile", "--nosyslog", "--print-address"];
  // Its output goes through us rather than inheriting our stdout/stderr: whoever reads our output
  // then sees it end when we end, even if dbus-daemon outlives a SIGKILL of this process.
  const daemon: ChildProcess = spawn("dbus-daemon", args, { stdio: ["ignore", "pipe", "pipe"] });
  const listening = firstLine(daemon.stdout!);
  forwardDaemonLog(daemon.stderr!);
  let closing = false;
  let reportFailure: (why: string) => void = () => {};
  const failure = new Promise<string>((resolve) => (reportFailure = (why) => closing || resolve(why)));
  const daemonGone = new AbortController();
  const exited = new Promise<void>((resolve) => daemon.once("exit", () => resolve()));
  daemon.once("error", (error) => {
    reportFailure(`cannot start dbus-daemon: ${reason(error)}`);
    daemonGone.abort();
  });
  daemon.once("exit", (code, killedBy) => {
    reportFailure(`dbus-daemon exited (${killedBy ?? `code ${code}`}): the bus is gone`);
    daemonGone.abort();
  });

  let bus: MessageBus | undefined;
  let privateBus: MessageBus | undefined;
  const handle: BusServer = {
    failure,
    async close() {
      closing = true;
      // Reverse order of start: the private service, name, connection, daemon, socket file.
      if (privateBus) closeBus(privateBus);
      if (bus && !daemonGone.signal.aborted) {
        await withTimeout(bus.releaseName(BUS_NAME), 300, "ReleaseName").catch(() => {});
      }
      if (bus) closeBus(bus);
      if (daemon.exitCode === null && daemon.signalCode === null) {
        daemon.kill("SIGTERM");
        const killer = setTimeout(() => daemon.kill("SIGKILL"), 500);
        await exited;
        clearTimeout(killer);
      }
      removeSocket(socketPath);
    },
  };

  try {
    const waiting = AbortSignal.any([signal, daemonGone.signal, AbortSignal.timeout(READY_TIMEOUT_MS)]);
    const ready = await Promise.race([listening, untilAborted(waiting).then(() => null)]);
    if (signal.aborted) return handle;
    if (daemonGone.signal.aborted) throw new FatalError(await failure);
    if (ready === null) throw new FatalError(`dbus-daemon did not listen on ${socketPath} within ${READY_TIMEOUT_MS / 1000} s`);
    log(`dbus-daemon (pid ${daemon.pid}) listening at ${ready}`);
    daemon.stdout?.pipe(process.stdout, { end: false });

    bus = sessionBus({ busAddress: `unix:path=${socketPath}`, authMethods: ["EXTERNAL"] });
    bus.on("error", (error: unknown) => reportFailure(`connection to the bus lost: ${reason(error)}`));
    const connected = new Promise<void>((resolve) => bus!.once("connect", () => resolve()));
    await withTimeout(connected, STEP_TIMEOUT_MS, `connect to ${socketPath}`);

    // The private service first: a client that finds org.pantavisor.Example finds both.
    privateBus = await ownPrivateService(socketPath, reportFailure);
    bus.export(OBJECT_PATH, new ExampleInterface(INTERFACE_NAME));
    bus.addMethodHandler((call: Message) => answerGetInfo(bus!, call) || rejectWrongSignature(bus!, call));
    const reply = await withTimeout(bus.requestName(BUS_NAME, NameFlag.DO_NOT_QUEUE), STEP_TIMEOUT_MS, `RequestName ${BUS_NAME}`);
    if (reply !== RequestNameReply.PRIMARY_OWNER) throw new FatalError(`${BUS_NAME} is already owned on this bus (reply ${reply})`);
    return handle;
  } catch (error) {
    await handle.close();
    if (error instanceof DBusError) throw new FatalError(`cannot own ${BUS_NAME}: ${error.type}: ${error.text}`);
    throw error;
  }
}

/**
 * org.pantavisor.Example.Private, on a connection of its own: the bus policy's send_destination
 * rules, and the mesh, decide by the connection a name belongs to, so a connection owning both
 * names would make each one reachable through the other. Closing the connection releases the name.
 */
async function ownPrivateService(socketPath: string, reportFailure: (why: string) => void): Promise<MessageBus> {
  const bus = sessionBus({ busAddress: `unix:path=${socketPath}`, authMethods: ["EXTERNAL"] });
  bus.on("error", (error: unknown) => reportFailure(`connection to the bus lost: ${reason(error)}`));
  try {
    await withTimeout(new Promise<void>((resolve) => bus.once("connect", () => resolve())), STEP_TIMEOUT_MS, `connect to ${socketPath}`);
    bus.export(PRIVATE_PATH, new PrivateInterface(PRIVATE_NAME));
    const reply = await withTimeout(bus.requestName(PRIVATE_NAME, NameFlag.DO_NOT_QUEUE), STEP_TIMEOUT_MS, `RequestName ${PRIVATE_NAME}`);
    if (reply !== RequestNameReply.PRIMARY_OWNER) throw new FatalError(`${PRIVATE_NAME} is already owned on this bus (reply ${reply})`);
    return bus;
  } catch (error) {
    closeBus(bus);
    if (error instanceof DBusError) throw new FatalError(`cannot own ${PRIVATE_NAME}: ${error.type}: ${error.text}`);
    throw error;
  }
}

/**
 * dbus-daemon's stderr, passed on line by line, except one line that reads like a failure and is
 * not: a system bus tries to raise its open-file limit to 65536, and a container (or a machine)
 * whose hard limit is lower refuses. The bus works; we say so in one line of our own.
 */
function forwardDaemonLog(stream: Readable): void {
  createInterface({ input: stream }).on("line", (line) => {
    const wanted = /Failed to set fd limit to (\d+): Operation not permitted/.exec(line)?.[1];
    if (wanted === undefined) return void process.stderr.write(`${line}\n`);
    const hard = /^Max open files\s+\S+\s+(\S+)/m.exec(readFileSync("/proc/self/limits", "utf8"))?.[1] ?? "lower";
    log(`dbus-daemon: open-file limit stays at ${hard} (it asks for ${wanted}, above this machine's hard limit): harmless for a bus of a few clients`);
  });
}

/** Resolves with the first line a stream prints (dbus-daemon's address), then leaves the stream paused. */
function firstLine(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve) => {
    let text = "";
    const onData = (chunk: Buffer | string): void => {
      text += chunk.toString();
      if (!text.includes("\n")) return;
      stream.off("data", onData);
      stream.pause();
      resolve(text.slice(0, text.indexOf("\n")));
    };
    stream.on("data", onData);
  });
}

/** dbus-next's disconnect() only half-closes its socket; destroy it so nothing lingers. */
function closeBus(bus: MessageBus): void {
  bus.disconnect();
  // Reason for the cast: the socket is not part of dbus-next's typed API.
  (bus as unknown as { _connection: { stream: { destroy(): void } } })._connection.stream.destroy();
}

async function main(): Promise<number> {
  const { values } = parseCommandLine({
    name: "dbus-server",
    summary: `Provider of the D-Bus pattern (service system-bus): runs its own dbus-daemon and serves ${BUS_NAME}.GetInfo on it.`,
    options: {
      socket: { type: "string", value: "PATH", default: devicePath(SOCKET_PATH), help: "where dbus-daemon listens" },
      config: { type: "string", value: "FILE", default: devicePath(CONFIG_PATH), help: "the bus configuration (it includes the policy in system.d/)" },
    },
    env: ROOT_ENV,
    notes: ["Needs dbus-daemon on PATH. Owning the names takes root, as the policies in system.d/ say."],
    examples: ["PV_ROOT=/tmp/dbus-root dbus-server   (after: cp -r containers/dbus-server/rootfs/. /tmp/dbus-root/)"],
  });
  const socketPath = values.socket;
  const configPath = values.config;
  if (!existsSync(configPath)) throw new FatalError(`bus config ${configPath} not found (--config FILE)`);
  log(`dbus-server: bus ${socketPath}, config ${configPath}, name ${BUS_NAME}`);
  const stopping = stopSignal();

  const server = await start(socketPath, configPath, stopping);
  if (!stopping.aborted) {
    log(`dbus-server: ${BUS_NAME} serves GetInfo at ${OBJECT_PATH}`);
    log(`dbus-server: ${PRIVATE_NAME} serves GetInfo at ${PRIVATE_PATH} (root only; no consumer declares it)`);
  }
  const failed = await Promise.race([untilAborted(stopping).then(() => null), server.failure]);
  if (failed === null) log(`dbus-server: ${String(stopping.reason)} received, shutting down`);
  await server.close();
  if (failed !== null) throw new FatalError(failed);
  return 0;
}

if (require.main === module) runMain(main);
