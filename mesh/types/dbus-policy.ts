// What a consumer may do on the provider's bus under the documented profile: the table of
// ../shared/xconnect.md, "D-Bus: the policy-aware proxy the seed documents", one instance per
// consumer connection. The design follows flatpak's xdg-dbus-proxy (its SEE/TALK/OWN levels,
// collapsed to the one name a requirement declares as its `interface`):
//
//   the consumer may                                      | nothing else
//   talk to the bus driver: Hello, AddMatch/RemoveMatch    | BecomeMonitor, eavesdropping matches,
//     (no eavesdropping), GetNameOwner/NameHasOwner of the |   UpdateActivationEnvironment, other
//     allowed name, GetConnectionUnixUser of itself or the |   names' owners, any other driver call
//     allowed name's owner, ListNames, Introspect, Ping    |
//   call the allowed name (or its unique owner), any       | calls to other destinations
//     interface                                            |
//   receive replies to its own calls, signals from the     | messages from other peers (dropped)
//     allowed name's owner or the driver                   |
//   see in ListNames the driver, itself, the allowed name  | other names (removed from the reply)
//   RequestName/ReleaseName of the allowed name            | any other name
//
// A refused call never reaches the bus: the mesh answers it with
// org.freedesktop.DBus.Error.AccessDenied, sent from MESH_SENDER so that the consumer (and a test)
// can tell the mesh's refusal from the bus's own. Replies get through only to the serials the
// consumer sent. To know the allowed name's current owner (signals carry the owner's unique name,
// not the well-known one), the mesh adds two calls of its own to the connection right after the
// consumer's Hello: an AddMatch for NameOwnerChanged of that name and a GetNameOwner; their serials
// come from the top half of the range, which consumers may not use, and their replies are kept.
//
// The policy is pure: each message in, what to send each way out. The sockets are ./dbus-filter.ts.
import {
  encodeMessage, encodeStringArray, encodeStrings, ERROR, METHOD_CALL, METHOD_RETURN, NO_REPLY_EXPECTED, SIGNAL,
  stringArgs, stringArrayArg, withBody, type Message,
} from "./dbus-wire";

export const BUS_DRIVER = "org.freedesktop.DBus";
/** The sender of the errors the mesh answers itself: never the bus driver. */
export const MESH_SENDER = "org.pantavisor.xconnect";
export const ACCESS_DENIED = "org.freedesktop.DBus.Error.AccessDenied";
/** Serials from here up are the mesh's own calls on a consumer's connection. */
export const MESH_SERIAL_BASE = 0x8000_0000;
/** Calls awaiting a reply per connection (the bus itself allows 128 by default). */
const MAX_PENDING = 4096;

const DBUS_INTERFACE = "org.freedesktop.DBus";
// The driver methods a consumer may call, with the interface each belongs to (a call may leave
// the interface out: the driver then goes by the member name).
const DRIVER_METHODS: Record<string, string> = {
  Hello: DBUS_INTERFACE,
  AddMatch: DBUS_INTERFACE,
  RemoveMatch: DBUS_INTERFACE,
  GetNameOwner: DBUS_INTERFACE,
  NameHasOwner: DBUS_INTERFACE,
  GetConnectionUnixUser: DBUS_INTERFACE,
  RequestName: DBUS_INTERFACE,
  ReleaseName: DBUS_INTERFACE,
  ListNames: DBUS_INTERFACE,
  Introspect: "org.freedesktop.DBus.Introspectable",
  Ping: "org.freedesktop.DBus.Peer",
};

/** A consumer broke the protocol in a way that ends its connection (the message says how). */
export class PolicyViolation extends Error {}

/** What one message turns into: bytes for the bus and bytes for the consumer, in order. */
export interface Output {
  bus: Buffer[];
  consumer: Buffer[];
}

/** Why the mesh tracks a call's reply. */
type Pending = "reply" | "hello" | "list-names" | "mesh-match" | "mesh-owner";

/** A bus name as the spec writes it (at least two elements, no element starting with a digit). */
export function isBusName(name: string): boolean {
  return name.length <= 255 && /^[A-Za-z_-][A-Za-z0-9_-]*(\.[A-Za-z_-][A-Za-z0-9_-]*)+$/.test(name);
}

export class ConsumerPolicy {
  /** The consumer's unique name, from the bus's reply to its Hello. */
  private me: string | null = null;
  /** The unique name that owns the allowed name now (NameOwnerChanged, GetNameOwner). */
  private owner: string | null = null;
  private lastSerial = 0;
  private helloSeen = false;
  private meshSerial = MESH_SERIAL_BASE;
  private answerSerial = 0;
  private readonly pending = new Map<number, Pending>();
  /** Calls delivered to the consumer while it owns the allowed name ("sender serial"), for its replies. */
  private readonly callsIn = new Set<string>();

  /** `allowed`: the requirement's interface when it is a bus name; null lets the consumer reach the driver only. */
  constructor(readonly allowed: string | null) {}

  /** The allowed name's owner as the mesh knows it (for tests and logs). */
  get ownerOfAllowed(): string | null {
    return this.owner;
  }

  fromConsumer(message: Message, out: Output): void {
    if (message.unixFds) throw new PolicyViolation(`a message announces ${message.unixFds} unix fd(s), which the mesh does not pass`);
    if (message.serial <= this.lastSerial || message.serial >= MESH_SERIAL_BASE) {
      throw new PolicyViolation(`serial ${message.serial} is not above the previous one (${this.lastSerial}) or is in the mesh's range`);
    }
    this.lastSerial = message.serial;
    switch (message.type) {
      case METHOD_CALL:
        return this.call(message, out);
      case SIGNAL: {
        // Unicast to the allowed name or to itself; broadcast only as the allowed name's owner.
        const to = message.destination;
        const ownsAllowed = this.me !== null && this.owner === this.me;
        if (to === undefined ? ownsAllowed : this.isAllowed(to) || to === this.me) out.bus.push(message.bytes);
        return;
      }
      default: {
        // A reply: only to a call the mesh delivered to it.
        const key = `${message.destination} ${message.replySerial}`;
        if (this.callsIn.delete(key)) out.bus.push(message.bytes);
      }
    }
  }

  fromBus(message: Message, out: Output): void {
    if (message.unixFds) throw new PolicyViolation(`the bus sent a message announcing ${message.unixFds} unix fd(s), which the mesh does not pass`);
    switch (message.type) {
      case METHOD_RETURN:
      case ERROR:
        return this.reply(message, out);
      case SIGNAL:
        if (message.sender === BUS_DRIVER) {
          if (message.member === "NameOwnerChanged" && message.interface === DBUS_INTERFACE && !this.nameOwnerChanged(message)) return;
          out.consumer.push(message.bytes);
        } else if (message.sender !== undefined && (message.sender === this.owner || message.sender === this.me)) {
          out.consumer.push(message.bytes);
        }
        return;
      default: {
        // A call to the consumer: only while it owns the allowed name, addressed to it.
        const ownsAllowed = this.me !== null && this.owner === this.me;
        if (!ownsAllowed || (message.destination !== this.allowed && message.destination !== this.me)) return;
        if ((message.flags & NO_REPLY_EXPECTED) === 0) {
          if (this.callsIn.size >= MAX_PENDING) return;
          this.callsIn.add(`${message.sender} ${message.serial}`);
        }
        out.consumer.push(message.bytes);
      }
    }
  }

  private isAllowed(name: string): boolean {
    return this.allowed !== null && (name === this.allowed || name === this.owner);
  }

  private call(message: Message, out: Output): void {
    const to = message.destination;
    // No destination: the bus routes such a call to no one, so it is judged like a driver call.
    const refusal = to === undefined || to === BUS_DRIVER ? this.driverCall(message) : this.isAllowed(to) ? null : `a call to ${to}`;
    if (refusal !== null) return this.refuse(message, refusal, out);

    let pending: Pending = "reply";
    if (to === BUS_DRIVER && message.member === "Hello") pending = "hello";
    if (to === BUS_DRIVER && message.member === "ListNames") pending = "list-names";
    if (to !== undefined && (message.flags & NO_REPLY_EXPECTED) === 0) {
      if (this.pending.size >= MAX_PENDING) throw new PolicyViolation(`more than ${MAX_PENDING} calls await a reply`);
      this.pending.set(message.serial, pending);
    }
    out.bus.push(message.bytes);
    if (pending === "hello" && !this.helloSeen) {
      this.helloSeen = true;
      this.watchAllowedName(message.littleEndian, out);
    }
  }

  /** null when the consumer may make this driver call, else what is refused. */
  private driverCall(message: Message): string | null {
    const member = message.member!;
    const expected = Object.hasOwn(DRIVER_METHODS, member) ? DRIVER_METHODS[member] : undefined;
    const what = `${message.interface ?? BUS_DRIVER}.${member}`;
    if (expected === undefined || (message.interface !== undefined && message.interface !== expected)) return what;
    if (member === "AddMatch") {
      const [rule] = stringArgs(message, 1) ?? [];
      return rule === undefined || /eavesdrop/i.test(rule) ? "AddMatch with eavesdrop" : null;
    }
    if (!["GetNameOwner", "NameHasOwner", "GetConnectionUnixUser", "RequestName", "ReleaseName"].includes(member)) return null;
    const [name] = stringArgs(message, 1) ?? [];
    if (name === undefined) return `${what} without a name`;
    const owning = member === "RequestName" || member === "ReleaseName";
    const may = owning ? name === this.allowed : this.isAllowed(name) || (member === "GetConnectionUnixUser" && name === this.me);
    return may ? null : `${member} of ${name}`;
  }

  /** Answers a refused call in the bus's place: AccessDenied, from the mesh, naming the allowed name. */
  private refuse(message: Message, what: string, out: Output): void {
    if ((message.flags & NO_REPLY_EXPECTED) !== 0) return;
    const allowed = this.allowed === null ? "the bus driver only (its requirement's interface is no bus name)" : `${this.allowed} (its requirement's interface) and the bus driver only`;
    const text = `pv-xconnect: ${what} refused: this consumer may use ${allowed}`;
    this.answerSerial = (this.answerSerial % 0xffff_fffe) + 1;
    out.consumer.push(
      encodeMessage({
        littleEndian: message.littleEndian,
        type: ERROR,
        flags: NO_REPLY_EXPECTED,
        serial: this.answerSerial,
        replySerial: message.serial,
        destination: this.me ?? undefined,
        sender: MESH_SENDER,
        errorName: ACCESS_DENIED,
        signature: "s",
        body: encodeStrings([text], message.littleEndian),
      }),
    );
  }

  /** The mesh's own calls after Hello: be told when the allowed name changes owner, and ask who owns it now. */
  private watchAllowedName(littleEndian: boolean, out: Output): void {
    if (this.allowed === null) return;
    const call = { littleEndian, type: METHOD_CALL, destination: BUS_DRIVER, path: "/org/freedesktop/DBus", interface: DBUS_INTERFACE, signature: "s" };
    const rule = `type='signal',sender='${BUS_DRIVER}',interface='${DBUS_INTERFACE}',member='NameOwnerChanged',arg0='${this.allowed}'`;
    // The match first: an owner change after the GetNameOwner answer then arrives as a signal.
    for (const [member, arg, pending] of [["AddMatch", rule, "mesh-match"], ["GetNameOwner", this.allowed, "mesh-owner"]] as const) {
      const serial = this.meshSerial++;
      this.pending.set(serial, pending);
      out.bus.push(encodeMessage({ ...call, serial, member, body: encodeStrings([arg], littleEndian) }));
    }
  }

  private reply(message: Message, out: Output): void {
    const pending = this.pending.get(message.replySerial!);
    // Not a reply to a call the consumer (or the mesh) made on this connection: dropped.
    if (pending === undefined) return;
    this.pending.delete(message.replySerial!);
    const returned = message.type === METHOD_RETURN;
    switch (pending) {
      case "mesh-match":
        return;
      case "mesh-owner":
        this.owner = returned ? (stringArgs(message, 1)?.[0] ?? null) : null;
        return;
      case "hello":
        if (returned) this.me = stringArgs(message, 1)?.[0] ?? null;
        break;
      case "list-names": {
        const names = returned ? stringArrayArg(message) : null;
        if (names !== null) {
          const visible = names.filter((name) => name === BUS_DRIVER || name === this.me || (this.allowed !== null && name === this.allowed));
          out.consumer.push(withBody(message, encodeStringArray(visible, message.littleEndian)));
          return;
        }
        break;
      }
    }
    out.consumer.push(message.bytes);
  }

  /** Keeps the allowed name's owner current; true when the consumer may see this change. */
  private nameOwnerChanged(message: Message): boolean {
    const args = stringArgs(message, 3);
    if (args === null) return false;
    const [name, , newOwner] = args as [string, string, string];
    if (name === this.allowed) this.owner = newOwner === "" ? null : newOwner;
    return name === this.allowed || name === this.me || (this.owner !== null && name === this.owner);
  }
}
