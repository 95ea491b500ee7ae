// The D-Bus example through the local mesh, under both profiles: dbus-server's own dbus-daemon
// (org.pantavisor.Example, and org.pantavisor.Example.Private that no consumer declares),
// dbus-client (role root), dbus-client-nobody (role nobody) and dbus-attacker (role nobody).
// documented: every role really authenticates as its uid, the seed's policy decides, and the mesh
// filters every message: the requirement's interface and the bus driver only (xconnect.md).
// master: pv-xconnect master's SASL rewrite, with its weaknesses, and no filter (README.md, "Profiles").
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { DBusError, Message, type MessageBus } from "dbus-next";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMesh, type Mesh } from "../mesh/xconnect";
import type { Profile } from "../mesh/types/link";
import { MESH_SENDER } from "../mesh/types/dbus-policy";
import { encodeMessage, MessageReader, METHOD_CALL, METHOD_RETURN, stringArgs } from "../mesh/types/dbus-wire";
import { connectBus, INFO } from "./support/dbus";
import { closeBus } from "./support/dbus-capture";
import { skipUnless } from "./support/skips";

const REPLY = /^\S+ {4}string "\{"service": "dbus-example", "status": "active"\}"$/;
const PRIVATE_INFO = '{"service": "org.pantavisor.Example.Private", "status": "active"}';
const SOCKET = "/run/dbus/system_bus_socket";
const CONTAINERS = [
  { name: "dbus-server" },
  { name: "dbus-client", args: ["--interval", "0.5", "--role", "root"] },
  { name: "dbus-client-nobody", args: ["--interval", "0.5", "--role", "nobody"] },
  { name: "dbus-attacker", args: ["--role", "nobody"] },
];
// Both profiles need root: the server owns its names as root (the seed's policy), and documented
// connects as the role's uid (65534), which only root may do.
const AS_ROOT = process.getuid?.() === 0;
const SKIP_REASON = "needs root (connecting as the role's uid, and the seed's policy lets only root own the name)";
const DRIVER = { destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus" };
const PRIVATE = { destination: "org.pantavisor.Example.Private", path: "/org/pantavisor/Example/Private", interface: "org.pantavisor.Example.Private", member: "GetInfo" };
const GET_INFO = { destination: "org.pantavisor.Example", path: "/org/pantavisor/Example", interface: "org.pantavisor.Example", member: "GetInfo" };

/** The lines a client printed for its latest successful request: the reply line and the uid line. */
async function nextReply(mesh: Mesh, name: string): Promise<{ reply: string; uid: string }> {
  const from = mesh.mark(name);
  await mesh.waitForOutput(name, /--- Requesting info from D-Bus service org\.pantavisor\.Example ---/, 10_000, from);
  const reply = await mesh.waitForOutput(name, /string "/, 10_000, from);
  const uid = await mesh.waitForOutput(name, /the bus authenticated this connection as uid/, 10_000, from);
  return { reply, uid };
}

async function errorOf(promise: Promise<unknown>): Promise<DBusError> {
  const error: unknown = await promise.then(() => null, (e: unknown) => e);
  if (!(error instanceof DBusError)) throw new Error(`expected a DBusError, got ${String(error)}`);
  return error;
}

/** The sender of the message a DBusError was made from (dbus-next keeps it as `reply`). */
function senderOf(error: DBusError): string | undefined {
  // Reason for the cast: `reply` is not in dbus-next's typings.
  return (error as unknown as { reply?: { sender?: string } }).reply?.sender;
}

/** Runs dbus-send (libdbus, the C client) against a bus socket; resolves with its exit code and output. */
async function dbusSend(socket: string, call: typeof GET_INFO): Promise<{ code: number; output: string }> {
  const args = [`--bus=unix:path=${socket}`, "--print-reply", `--dest=${call.destination}`, call.path, `${call.interface}.${call.member}`];
  try {
    const { stdout, stderr } = await promisify(execFile)("dbus-send", args, { timeout: 10_000 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, output: `${failed.stdout ?? ""}${failed.stderr ?? ""}` };
  }
}

/** A raw connection, for what no client library sends: resolves with everything received until it closes (or `ms`). */
function rawExchange(path: string, bytes: Buffer, ms = 3000): Promise<{ received: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const socket: Socket = connect(path);
    const received: Buffer[] = [];
    const timer = setTimeout(() => (socket.destroy(), resolve({ received: Buffer.concat(received), closed: false })), ms);
    socket.on("connect", () => socket.write(bytes));
    socket.on("data", (chunk: Buffer) => received.push(chunk));
    socket.on("error", () => {});
    socket.on("close", () => (clearTimeout(timer), resolve({ received: Buffer.concat(received), closed: true })));
  });
}

const HELLO = encodeMessage({ type: METHOD_CALL, serial: 1, ...DRIVER, member: "Hello" });

/** Resolves with the first of `lines` (from `from` on) that matches, polling until `ms` have passed. */
async function waitForLine(lines: string[], pattern: RegExp, ms: number, from = 0): Promise<string> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 50))) {
    const line = lines.slice(from).find((l) => pattern.test(l));
    if (line !== undefined) return line;
  }
  throw new Error(`no mesh line matched ${pattern} within ${ms} ms:\n${lines.slice(from).join("\n")}`);
}

describe.skipIf(skipUnless(AS_ROOT, "D-Bus through the mesh", SKIP_REASON)).each<Profile>(["documented", "master"])("D-Bus through the mesh, profile %s", (profile) => {
  let mesh: Mesh;
  let clientSocket: string;
  let providerSocket: string;
  const meshLines: string[] = [];
  beforeAll(async () => {
    mesh = await startMesh({ containers: CONTAINERS, profile, lingerMs: 1000, onLine: (container, line) => container === "mesh" && meshLines.push(line) });
    await mesh.waitForOutput("dbus-server", /org\.pantavisor\.Example\.Private serves GetInfo/);
    clientSocket = join(mesh.rootOf("dbus-client"), SOCKET);
    providerSocket = join(mesh.rootOf("dbus-server"), SOCKET);
  });
  afterAll(() => mesh?.close());

  /** A dbus-next connection of the test's own through dbus-client's injected socket (role root). */
  async function throughMesh<T>(use: (bus: MessageBus) => Promise<T>): Promise<T> {
    const bus = await connectBus(clientSocket);
    try {
      return await use(bus);
    } finally {
      closeBus(bus);
    }
  }

  it("dbus-client (role root) gets the seed's exact reply, as uid 0", async () => {
    const { reply, uid } = await nextReply(mesh, "dbus-client");
    expect(reply).toMatch(REPLY);
    expect(uid).toMatch(/as uid 0, role root\)$/);
    expect(mesh.output("dbus-client")).toMatch(/method return time=\d+\.\d+ sender=:1\.\d+ -> destination=:1\.\d+ serial=\d+ reply_serial=2/);
  });

  if (profile === "documented") {
    it("dbus-client prints once what the mesh lets it see: the bus and org.pantavisor.Example", async () => {
      await nextReply(mesh, "dbus-client");
      const lines = mesh.output("dbus-client").split("\n").filter((line) => line.includes("names this connection can see"));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/ names this connection can see on the bus \(ListNames, less its own id\): org\.freedesktop\.DBus, org\.pantavisor\.Example$/);
    });

    it("dbus-client-nobody is authenticated as uid 65534 and the default-context rule lets it call", async () => {
      const { reply, uid } = await nextReply(mesh, "dbus-client-nobody");
      expect(reply).toMatch(REPLY);
      expect(uid).toMatch(/as uid 65534, role nobody\)$/);
    });

    it("org.pantavisor.Example.Private: refused by the mesh (its sender, not the bus), though the bus lets root call it directly", async () => {
      const refused = await throughMesh((bus) => errorOf(bus.call(new Message(PRIVATE))));
      expect(refused.type).toBe("org.freedesktop.DBus.Error.AccessDenied");
      expect(senderOf(refused)).toBe(MESH_SENDER);
      expect(refused.text).toBe(
        "pv-xconnect: a call to org.pantavisor.Example.Private refused: this consumer may use org.pantavisor.Example (its requirement's interface) and the bus driver only",
      );
      const direct = await connectBus(providerSocket);
      try {
        expect((await direct.call(new Message(PRIVATE)))?.body).toEqual([PRIVATE_INFO]);
      } finally {
        closeBus(direct);
      }
    });

    it("through the mesh: GetInfo, ListNames with the allowed names only, the owner's unique name yes, another's no", async () => {
      await throughMesh(async (bus) => {
        expect((await bus.call(new Message(GET_INFO)))?.body).toEqual([INFO]);
        const names = (await bus.call(new Message({ ...DRIVER, member: "ListNames" })))?.body[0] as string[];
        // Reason for the cast: the unique name is not in dbus-next's typings.
        const me = (bus as unknown as { name: string }).name;
        expect(names.sort()).toEqual([me, "org.freedesktop.DBus", "org.pantavisor.Example"].sort());
        const owner = String((await bus.call(new Message({ ...DRIVER, member: "GetNameOwner", signature: "s", body: ["org.pantavisor.Example"] })))?.body[0]);
        expect((await bus.call(new Message({ ...GET_INFO, destination: owner })))?.body).toEqual([INFO]);
        const other = await errorOf(bus.call(new Message({ ...DRIVER, member: "GetNameOwner", signature: "s", body: [PRIVATE.destination] })));
        expect(senderOf(other)).toBe(MESH_SENDER);
        expect(other.text).toMatch(/^pv-xconnect: GetNameOwner of org\.pantavisor\.Example\.Private refused/);
      });
    });

    it("libdbus (dbus-send, which negotiates fd passing) works through the mesh and is refused Private by it", async () => {
      const info = await dbusSend(clientSocket, GET_INFO);
      expect(info.code, info.output).toBe(0);
      expect(info.output).toContain(`string "${INFO}"`);
      const denied = await dbusSend(clientSocket, PRIVATE);
      expect(denied.code).not.toBe(0);
      expect(denied.output).toMatch(/^Error org\.freedesktop\.DBus\.Error\.AccessDenied: pv-xconnect: a call to org\.pantavisor\.Example\.Private refused/m);
    });

    it("SASL: NEGOTIATE_UNIX_FD gets ERROR from the mesh, in order, and BEGIN waits for the bus's OK (all in one write)", async () => {
      const pipelined = Buffer.concat([Buffer.from("\0AUTH EXTERNAL 30\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n"), HELLO]);
      const { received } = await rawExchange(clientSocket, pipelined, 1500);
      const text = received.toString("latin1");
      expect(text).toMatch(/^OK [0-9a-f]{32}\r\nERROR\r\n/);
      const hello = new MessageReader().push(received.subarray(text.indexOf("ERROR\r\n") + 7))[0]!; // then the reply to Hello
      expect(hello).toMatchObject({ type: METHOD_RETURN, replySerial: 1 });
      expect(stringArgs(hello, 1)?.[0]).toMatch(/^:1\.\d+$/);
    });

    it("SASL: a message packed after a BEGIN the bus has not accepted closes the connection, with one mesh line", async () => {
      const from = meshLines.length;
      const { received, closed } = await rawExchange(clientSocket, Buffer.concat([Buffer.from("\0BEGIN\r\n"), HELLO]));
      expect(closed).toBe(true);
      expect(received.length).toBe(0);
      const line = await waitForLine(meshLines, /connection closed: BEGIN before the bus accepted the authentication$/, 5000, from);
      expect(line).toMatch(/^dbus-client -> dbus-server \(system-bus, role root\): connection closed: /);
      expect((await nextReply(mesh, "dbus-client")).reply).toMatch(REPLY); // the link still works
    });

    it("dbus-attacker: every attempt refused, (d) to (g) by the mesh itself, exit 0; one mesh line per bad message", async () => {
      expect(await mesh.exited("dbus-attacker")).toEqual({ code: 0, signal: null });
      const output = mesh.output("dbus-attacker");
      const denied = `org\\.freedesktop\\.DBus\\.Error\\.AccessDenied from ${MESH_SENDER.replace(/\./g, "\\.")}: pv-xconnect: `;
      expect(output).toMatch(/refused {4}\(a\) own org\.pantavisor\.Example: org\.freedesktop\.DBus\.Error\.AccessDenied: /);
      expect(output).toMatch(/refused {4}\(b\) re-authenticate as uid 0: .*after claiming uid 0 the bus sees uid 65534$/m);
      expect(output).toMatch(/refused {4}\(c\) forged sender: sent with sender org\.pantavisor\.Example, delivered with sender :1\.\d+$/m);
      expect(output).toMatch(new RegExp(`refused {4}\\(d\\) call org\\.pantavisor\\.Example\\.Private: ${denied}a call to org\\.pantavisor\\.Example\\.Private refused`));
      expect(output).toMatch(/refused {4}\(e\) ListNames reveals undeclared names: ListNames shows only :1\.\d+ \(ourselves\), org\.freedesktop\.DBus, org\.pantavisor\.Example$/m);
      expect(output).toMatch(new RegExp(`refused {4}\\(f\\) eavesdrop .*: AddMatch eavesdrop=true refused \\(${denied}AddMatch with eavesdrop refused.*; BecomeMonitor refused \\(${denied}`));
      expect(output).toMatch(new RegExp(`refused {4}\\(g\\) call packed into the same write as BEGIN: authenticated with our own uid; the packed call got ${denied}a call to org\\.pantavisor\\.Example\\.Private`));
      expect(output).toMatch(
        /refused {4}\(h\) malformed and oversize messages: malformed header: connection closed; oversize message \(256 MiB announced\): connection closed; a fresh connection then found org\.pantavisor\.Example owned by :1\.\d+$/m,
      );
      expect(output).toMatch(/summary: all 8 attempts refused for role nobody/);
      expect(output).not.toMatch(/VULNERABLE/);
      const attackerLines = meshLines.filter((line) => line.startsWith("dbus-attacker -> "));
      expect(attackerLines.filter((line) => line.endsWith('connection closed: malformed header: field destination has type "u", not "s"'))).toHaveLength(1);
      expect(attackerLines.filter((line) => line.endsWith("connection closed: oversize message: 268435472 bytes announced, over the limit of 4194304"))).toHaveLength(1);
    });

    it("the policy is really applied: a variant that denies nobody makes its calls fail with AccessDenied", async () => {
      const deny = `<busconfig>\n  <policy user="nobody">\n    <deny send_destination="org.pantavisor.Example"/>\n  </policy>\n</busconfig>\n`;
      writeFileSync(join(mesh.rootOf("dbus-server"), "etc/dbus-1/system.d/zz-deny-nobody.conf"), deny);
      const from = mesh.mark("dbus-server");
      await mesh.restart("dbus-server");
      await mesh.waitForOutput("dbus-server", /serves GetInfo/, 10_000, from);
      const line = await mesh.waitForOutput("dbus-client-nobody", /access denied by the bus policy for role nobody: /, 15_000, mesh.mark("dbus-client-nobody"));
      expect(line).toMatch(/retrying in 0\.5 s$/);
      expect((await nextReply(mesh, "dbus-client")).reply).toMatch(REPLY); // root is still allowed
      expect(mesh.pid("dbus-client-nobody")).toBeGreaterThan(0);
    });
  } else {
    it("dbus-client prints what it can see: every name on the bus, org.pantavisor.Example.Private too", async () => {
      const line = await mesh.waitForOutput("dbus-client", /names this connection can see/);
      expect(line).toMatch(/\(ListNames, less its own id\): (:1\.\d+, )+org\.freedesktop\.DBus, org\.pantavisor\.Example, org\.pantavisor\.Example\.Private$/);
    });

    it("nothing is filtered: role root reaches org.pantavisor.Example.Private through the mesh", async () => {
      expect(await throughMesh(async (bus) => (await bus.call(new Message(PRIVATE)))?.body)).toEqual([PRIVATE_INFO]);
    });

    it("dbus-client-nobody: one clear line naming the role, and it keeps running", async () => {
      const rejected = /^\S+ authentication rejected by the bus for role nobody, retrying in 0\.5 s$/;
      await mesh.waitForOutput("dbus-client-nobody", rejected);
      // ... and again on the next tick: it neither hung nor exited.
      await mesh.waitForOutput("dbus-client-nobody", rejected, 10_000, mesh.mark("dbus-client-nobody"));
      expect(mesh.pid("dbus-client-nobody")).toBeGreaterThan(0);
      expect(mesh.output("dbus-client-nobody")).not.toMatch(/string "|^\s+at /m);
    });

    it("dbus-attacker reports what went through: re-authentication as root, Private, ListNames, the packed call; exit 1", async () => {
      expect(await mesh.exited("dbus-attacker")).toEqual({ code: 1, signal: null });
      const output = mesh.output("dbus-attacker");
      expect(output).toMatch(/refused {4}\(a\) own org\.pantavisor\.Example: authentication rejected by the bus/);
      expect(output).toMatch(/VULNERABLE \(b\) re-authenticate as uid 0: first authentication rejected \(REJECTED EXTERNAL\); after claiming uid 0 the bus sees uid 0$/m);
      expect(output).toMatch(/refused {4}\(c\) forged sender: /);
      expect(output).toContain(`VULNERABLE (d) call org.pantavisor.Example.Private: org.pantavisor.Example.Private answered: ${PRIVATE_INFO}`);
      expect(output).toMatch(/VULNERABLE \(e\) ListNames reveals undeclared names: ListNames shows names we did not declare: (:1\.\d+, )+org\.pantavisor\.Example\.Private$/m);
      // The bus's own policy refuses BecomeMonitor, and delivers no eavesdropped message.
      expect(output).toMatch(/refused {4}\(f\) eavesdrop .*: AddMatch eavesdrop=true accepted, but it delivered no other connection's call; BecomeMonitor refused \(org\.freedesktop\.DBus\.Error\.AccessDenied from the bus: /);
      expect(output).toContain(`VULNERABLE (g) call packed into the same write as BEGIN: authenticated by claiming uid 0 after a rejection; the packed call was answered: ${PRIVATE_INFO}`);
      expect(output).toMatch(/refused {4}\(h\) malformed and oversize messages: malformed header: connection closed; oversize message \(256 MiB announced\): connection closed; a fresh connection/);
      expect(output).toMatch(
        /VULNERABLE: \(b\) re-authenticate as uid 0; \(d\) call org\.pantavisor\.Example\.Private; \(e\) ListNames reveals undeclared names; \(g\) call packed into the same write as BEGIN \(role nobody\)$/m,
      );
    });

    it("the attacker's eavesdrop check is real: a bus policy that allows eavesdropping makes (f) VULNERABLE", async () => {
      const allow = `<busconfig>\n  <policy context="default">\n    <allow send_destination="*" eavesdrop="true"/>\n    <allow eavesdrop="true"/>\n  </policy>\n</busconfig>\n`;
      writeFileSync(join(mesh.rootOf("dbus-server"), "etc/dbus-1/system.d/zz-allow-eavesdrop.conf"), allow);
      const from = mesh.mark("dbus-server");
      await mesh.restart("dbus-server");
      await mesh.waitForOutput("dbus-server", /Private serves GetInfo/, 10_000, from);
      const attacker = mesh.mark("dbus-attacker");
      await mesh.start("dbus-attacker");
      const line = await mesh.waitForOutput("dbus-attacker", /\(f\) eavesdrop/, 30_000, attacker);
      expect(line).toMatch(/VULNERABLE \(f\) eavesdrop .*: AddMatch eavesdrop=true accepted, and it delivered another connection's call; /);
      expect(await mesh.exited("dbus-attacker")).toEqual({ code: 1, signal: null });
    });
  }
});
