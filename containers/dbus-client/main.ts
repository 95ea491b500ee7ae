// dbus-client: the consumer side of the D-Bus pattern.
//
// Requires service `system-bus` (args.json: type dbus, interface org.pantavisor.Example, role
// `root`), which pv-xconnect injects at /run/dbus/system_bus_socket. Every 5 s it connects, calls
// org.pantavisor.Example.GetInfo and prints the reply the way `dbus-send --print-reply` does, plus
// the uid the provider's bus sees for this connection: the uid of our role, not our own.
// Once, on its first good connection, it prints the names ListNames shows (less its own id): what
// the mesh lets it see of the bus (under the documented mesh: the bus and org.pantavisor.Example).
// The same program runs as dbus-client-nobody (role `nobody`): the provider's policy decides.
//
// Expected failures are one line each, then a retry at the next tick: socket not there yet, the
// bus rejecting authentication (pv-xconnect master lets only role `root` through), the policy
// denying the call (AccessDenied), the service not on the bus yet.
//
// Run:  node dist/dbus-client/main.js [--socket PATH] [--role ROLE] [--interval SECONDS] [--count N] [--wait SECONDS]
//       (PV_ROOT=DIR moves the default path; --count N exits 0 after N replies, or 1 after --wait
//       seconds, 30 by default, without one. The role is only printed: it comes from --role,
//       PV_ROLE or the image's /etc/pv-role, see shared/role.ts; --help lists everything)
// Stop: SIGTERM or Ctrl-C: exits 0.
import { DBusError, Message, type MessageBus, sessionBus } from "dbus-next";
import { parseCommandLine } from "../../shared/cli";
import { everyTick, socketProblem, tickOptions, tickOptionSpecs } from "../../shared/client";
import { log } from "../../shared/log";
import { devicePath, ROOT_ENV } from "../../shared/paths";
import { ROLE_ENV, roleLabel } from "../../shared/role";
import { runMain } from "../../shared/run";
import { stopSignal } from "../../shared/shutdown";

const SOCKET_PATH = "/run/dbus/system_bus_socket";
const BUS_NAME = "org.pantavisor.Example";
const OBJECT_PATH = "/org/pantavisor/Example";
const INTERFACE_NAME = "org.pantavisor.Example";
const INTERVAL_SECONDS = 5;
const STEP_TIMEOUT_MS = 3000;

export interface InfoReply {
  /** The reply as dbus-send prints it (header line, then the string argument). */
  lines: string[];
  /** The uid the bus authenticated this connection as. */
  uid: number;
  /** With `listNames`: the names ListNames showed, less our own unique name, sorted. */
  names?: string[];
}

class AuthRejected extends Error {}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves once the bus said hello; rejects on a refused socket or a rejected authentication. */
function connected(bus: MessageBus): Promise<void> {
  return new Promise((resolve, reject) => {
    bus.once("connect", () => resolve());
    bus.on("error", (error: unknown) => {
      // dbus-next ends a rejected SASL exchange with this message (we offer EXTERNAL only).
      if (error instanceof Error && error.message === "No authentication methods left to try") reject(new AuthRejected());
      else reject(error);
    });
  });
}

/** dbus-next's disconnect() only half-closes its socket; destroy it (pv-xconnect master never forwards a half-close). */
function closeBus(bus: MessageBus): void {
  bus.disconnect();
  // Reason for the cast: the socket is not part of dbus-next's typed API.
  (bus as unknown as { _connection: { stream: { destroy(): void } } })._connection.stream.destroy();
}

function busCall(member: string, signature = "", body: unknown[] = []): Message {
  return new Message({ destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus", member, signature, body });
}

/** One request on a fresh connection, like one `dbus-send --print-reply` run; `listNames` adds a ListNames call. */
export async function requestInfo(socketPath: string, listNames = false): Promise<InfoReply> {
  // EXTERNAL only: the one mechanism a system bus accepts, and no second attempt in another one.
  const bus = sessionBus({ busAddress: `unix:path=${socketPath}`, authMethods: ["EXTERNAL"] });
  try {
    await withTimeout(connected(bus), STEP_TIMEOUT_MS, `connect to ${socketPath}`);
    const call = new Message({ destination: BUS_NAME, path: OBJECT_PATH, interface: INTERFACE_NAME, member: "GetInfo" });
    const reply = await withTimeout(bus.call(call), STEP_TIMEOUT_MS, `${INTERFACE_NAME}.GetInfo`);
    if (reply === null || typeof reply.body[0] !== "string") throw new Error(`unexpected reply to GetInfo: ${JSON.stringify(reply?.body)}`);
    const identity = await withTimeout(bus.call(busCall("GetConnectionUnixUser", "s", [reply.destination])), STEP_TIMEOUT_MS, "GetConnectionUnixUser");
    const listed = listNames ? await withTimeout(bus.call(busCall("ListNames")), STEP_TIMEOUT_MS, "ListNames") : null;
    const time = (Date.now() / 1000).toFixed(6);
    return {
      lines: [
        `method return time=${time} sender=${reply.sender} -> destination=${reply.destination} serial=${reply.serial} reply_serial=${reply.replySerial}`,
        `   string "${reply.body[0]}"`,
      ],
      uid: Number(identity?.body[0]),
      names: listed === null ? undefined : (listed?.body[0] as string[]).filter((name) => name !== reply.destination).sort(),
    };
  } finally {
    closeBus(bus);
  }
}

/** The plain-words reason for an expected failure, or null. */
function explain(socketPath: string, role: string, error: unknown): string | null {
  if (error instanceof AuthRejected) return `authentication rejected by the bus for role ${role}`;
  if (error instanceof DBusError) {
    if (error.type === "org.freedesktop.DBus.Error.AccessDenied") return `access denied by the bus policy for role ${role}: ${error.text}`;
    if (error.type === "org.freedesktop.DBus.Error.ServiceUnknown") return `${BUS_NAME} is not on the bus (yet)`;
    return `D-Bus error ${error.type}: ${error.text}`;
  }
  return socketProblem(socketPath, error);
}

async function main(): Promise<number> {
  const { values } = parseCommandLine({
    name: "dbus-client",
    summary: `Consumer of the D-Bus pattern: calls ${INTERFACE_NAME}.GetInfo on the injected bus socket every few seconds and prints the reply and the uid the bus saw.`,
    options: {
      socket: { type: "string", value: "PATH", default: devicePath(SOCKET_PATH), help: "the bus socket pv-xconnect injects (service system-bus)" },
      role: { type: "string", value: "ROLE", help: "the role to print (only a label: the mesh and the bus policy decide); default: PV_ROLE, else /etc/pv-role" },
      ...tickOptionSpecs(INTERVAL_SECONDS),
    },
    env: { ...ROOT_ENV, ...ROLE_ENV },
    examples: ["dbus-client --socket /tmp/dbus-root/run/dbus/system_bus_socket --role root --count 1"],
  });
  const socketPath = values.socket;
  const role = roleLabel(values.role, "unknown");
  const ticks = tickOptions(values);
  log(`dbus-client: bus ${socketPath}, role ${role}, every ${ticks.intervalSeconds} s`);

  const stopping = stopSignal();
  let listedNames = false;
  await everyTick(ticks, stopping, {
    async exchange() {
      log(`--- Requesting info from D-Bus service ${BUS_NAME} ---`);
      const reply = await requestInfo(socketPath, !listedNames);
      for (const line of reply.lines) log(line);
      log(`(the bus authenticated this connection as uid ${reply.uid}, role ${role})`);
      if (reply.names !== undefined) log(`names this connection can see on the bus (ListNames, less its own id): ${reply.names.join(", ")}`);
      listedNames = true;
      return null;
    },
    explain: (error) => explain(socketPath, role, error),
  });
  return 0;
}

if (require.main === module) runMain(main);
