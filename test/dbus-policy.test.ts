// The documented profile's per-connection D-Bus policy (mesh/types/dbus-policy.ts), message by
// message: what reaches the bus, what the consumer gets back, and what ends the connection. The
// same policy runs against a real dbus-daemon in test/dbus-mesh.test.ts.
import { describe, expect, it } from "vitest";
import { ACCESS_DENIED, BUS_DRIVER, ConsumerPolicy, isBusName, MESH_SENDER, MESH_SERIAL_BASE, PolicyViolation, type Output } from "../mesh/types/dbus-policy";
import {
  decodeMessage, encodeMessage, encodeStringArray, encodeStrings, ERROR, METHOD_CALL, METHOD_RETURN, NO_REPLY_EXPECTED, SIGNAL, stringArgs,
  stringArrayArg, type Message, type NewMessage,
} from "../mesh/types/dbus-wire";

const ALLOWED = "org.pantavisor.Example";
const ME = ":1.7";
const OWNER = ":1.0";
const DRIVER = { destination: BUS_DRIVER, path: "/org/freedesktop/DBus", interface: BUS_DRIVER };

function message(fields: NewMessage, args?: string[]): Message {
  const body = args === undefined ? undefined : encodeStrings(args);
  return decodeMessage(encodeMessage({ ...fields, signature: args === undefined ? fields.signature : "s".repeat(args.length), body: fields.body ?? body }));
}

/** A policy whose consumer has said Hello (unique name ME) and whose allowed name is owned by OWNER. */
function connected(): { policy: ConsumerPolicy; serial: () => number } {
  const policy = new ConsumerPolicy(ALLOWED);
  let next = 1;
  const out = run(policy, "consumer", message({ type: METHOD_CALL, serial: next++, ...DRIVER, member: "Hello" }));
  const mesh = out.bus.slice(1).map(decodeMessage);
  run(policy, "bus", message({ type: METHOD_RETURN, serial: 1, replySerial: 1, sender: BUS_DRIVER, destination: ME }, [ME]));
  run(policy, "bus", message({ type: METHOD_RETURN, serial: 2, replySerial: mesh[0]!.serial, sender: BUS_DRIVER, destination: ME }));
  run(policy, "bus", message({ type: METHOD_RETURN, serial: 3, replySerial: mesh[1]!.serial, sender: BUS_DRIVER, destination: ME }, [OWNER]));
  return { policy, serial: () => next++ };
}

function run(policy: ConsumerPolicy, from: "consumer" | "bus", input: Message): Output {
  const out: Output = { bus: [], consumer: [] };
  if (from === "consumer") policy.fromConsumer(input, out);
  else policy.fromBus(input, out);
  return out;
}

/** The consumer's call `fields`; expects the mesh to answer it with AccessDenied; returns the error. */
function refused(policy: ConsumerPolicy, call: Message): Message {
  const out = run(policy, "consumer", call);
  expect(out.bus).toEqual([]);
  expect(out.consumer).toHaveLength(1);
  const error = decodeMessage(out.consumer[0]!);
  expect(error).toMatchObject({ type: ERROR, errorName: ACCESS_DENIED, sender: MESH_SENDER, replySerial: call.serial, destination: ME });
  return error;
}

function passed(policy: ConsumerPolicy, call: Message): void {
  const out = run(policy, "consumer", call);
  expect(out.consumer).toEqual([]);
  expect(out.bus).toEqual([call.bytes]);
}

describe("ConsumerPolicy (documented profile, one consumer connection)", () => {
  it("after Hello, asks the bus itself who owns the allowed name and to be told of changes", () => {
    const policy = new ConsumerPolicy(ALLOWED);
    const hello = message({ type: METHOD_CALL, serial: 1, ...DRIVER, member: "Hello" });
    const out = run(policy, "consumer", hello);
    expect(out.bus[0]).toBe(hello.bytes);
    const [match, owner] = out.bus.slice(1).map(decodeMessage);
    expect(match).toMatchObject({ member: "AddMatch", destination: BUS_DRIVER });
    expect(stringArgs(match!, 1)![0]).toBe(`type='signal',sender='${BUS_DRIVER}',interface='${BUS_DRIVER}',member='NameOwnerChanged',arg0='${ALLOWED}'`);
    expect(owner).toMatchObject({ member: "GetNameOwner" });
    expect(stringArgs(owner!, 1)).toEqual([ALLOWED]);
    expect(match!.serial).toBeGreaterThanOrEqual(MESH_SERIAL_BASE);
    // The replies to the mesh's own calls are kept from the consumer; the owner is learnt.
    expect(run(policy, "bus", message({ type: METHOD_RETURN, serial: 2, replySerial: match!.serial, sender: BUS_DRIVER })).consumer).toEqual([]);
    expect(run(policy, "bus", message({ type: METHOD_RETURN, serial: 3, replySerial: owner!.serial, sender: BUS_DRIVER }, [OWNER])).consumer).toEqual([]);
    expect(policy.ownerOfAllowed).toBe(OWNER);
  });

  it("passes calls to the allowed name and its owner, on any interface, and their replies", () => {
    const { policy, serial } = connected();
    const call = message({ type: METHOD_CALL, serial: serial(), destination: ALLOWED, path: "/org/pantavisor/Example", interface: ALLOWED, member: "GetInfo" });
    passed(policy, call);
    passed(policy, message({ type: METHOD_CALL, serial: serial(), destination: OWNER, path: "/", interface: "org.freedesktop.DBus.Properties", member: "GetAll" }, [ALLOWED]));
    const reply = message({ type: METHOD_RETURN, serial: 9, replySerial: call.serial, sender: OWNER, destination: ME }, ["info"]);
    expect(run(policy, "bus", reply).consumer).toEqual([reply.bytes]);
    // The same reply again (or any reply to a serial the consumer did not send) is dropped.
    expect(run(policy, "bus", reply).consumer).toEqual([]);
    expect(run(policy, "bus", message({ type: METHOD_RETURN, serial: 10, replySerial: 999, sender: OWNER, destination: ME })).consumer).toEqual([]);
  });

  it("answers a call to another destination itself: AccessDenied from the mesh, naming the allowed name; the bus never sees it", () => {
    const { policy, serial } = connected();
    const error = refused(policy, message({ type: METHOD_CALL, serial: serial(), destination: "org.pantavisor.Example.Private", path: "/org/pantavisor/Example/Private", member: "GetInfo" }));
    expect(stringArgs(error, 1)![0]).toBe(
      "pv-xconnect: a call to org.pantavisor.Example.Private refused: this consumer may use org.pantavisor.Example (its requirement's interface) and the bus driver only",
    );
    refused(policy, message({ type: METHOD_CALL, serial: serial(), destination: ":1.3", path: "/", member: "Anything" }));
    // No reply expected: nothing to answer, and still nothing for the bus.
    const quiet = run(policy, "consumer", message({ type: METHOD_CALL, flags: NO_REPLY_EXPECTED, serial: serial(), destination: ":1.3", path: "/", member: "X" }));
    expect(quiet).toEqual({ bus: [], consumer: [] });
  });

  it("the bus driver: what the contract's table allows passes, the rest is refused by the mesh", () => {
    const { policy, serial } = connected();
    const driver = (member: string, args?: string[], iface: string = BUS_DRIVER): Message => message({ type: METHOD_CALL, serial: serial(), ...DRIVER, interface: iface, member }, args);
    passed(policy, driver("AddMatch", ["type='signal',sender='org.pantavisor.Example'"]));
    passed(policy, driver("RemoveMatch", ["type='signal'"]));
    passed(policy, driver("GetNameOwner", [ALLOWED]));
    passed(policy, driver("NameHasOwner", [ALLOWED]));
    passed(policy, driver("GetConnectionUnixUser", [ME]));
    passed(policy, driver("GetConnectionUnixUser", [OWNER]));
    passed(policy, driver("RequestName", [ALLOWED]));
    passed(policy, driver("ReleaseName", [ALLOWED]));
    passed(policy, driver("Introspect", undefined, "org.freedesktop.DBus.Introspectable"));
    passed(policy, driver("Ping", undefined, "org.freedesktop.DBus.Peer"));
    passed(policy, message({ type: METHOD_CALL, serial: serial(), destination: BUS_DRIVER, path: "/", member: "Ping" })); // no interface

    expect(stringArgs(refused(policy, driver("AddMatch", ["type='method_call',eavesdrop=true"])), 1)![0]).toMatch(/^pv-xconnect: AddMatch with eavesdrop refused: /);
    expect(stringArgs(refused(policy, driver("BecomeMonitor", undefined, "org.freedesktop.DBus.Monitoring")), 1)![0]).toMatch(/BecomeMonitor refused/);
    refused(policy, driver("UpdateActivationEnvironment"));
    refused(policy, driver("GetNameOwner", ["org.pantavisor.Example.Private"]));
    refused(policy, driver("NameHasOwner", [":1.3"]));
    refused(policy, driver("GetConnectionUnixUser", [":1.3"]));
    expect(stringArgs(refused(policy, driver("RequestName", ["org.pantavisor.Example.Private"])), 1)![0]).toMatch(/RequestName of org\.pantavisor\.Example\.Private refused/);
    refused(policy, driver("RequestName", [OWNER]));
    refused(policy, driver("StartServiceByName", [ALLOWED]));
    refused(policy, driver("GetConnectionCredentials", [ME]));
    refused(policy, driver("Hello", undefined, "org.freedesktop.DBus.Peer")); // a member on another interface than its own
  });

  it("ListNames: the reply keeps the driver, the consumer and the allowed name only", () => {
    const { policy, serial } = connected();
    const call = message({ type: METHOD_CALL, serial: serial(), ...DRIVER, member: "ListNames" });
    passed(policy, call);
    const names = [BUS_DRIVER, OWNER, ":1.3", ME, ALLOWED, "org.pantavisor.Example.Private"];
    const reply = message({ type: METHOD_RETURN, serial: 11, replySerial: call.serial, sender: BUS_DRIVER, destination: ME, signature: "as", body: encodeStringArray(names) });
    const out = run(policy, "bus", reply);
    const filtered = decodeMessage(out.consumer[0]!);
    expect(stringArrayArg(filtered)).toEqual([BUS_DRIVER, ME, ALLOWED]);
    expect(filtered).toMatchObject({ replySerial: call.serial, sender: BUS_DRIVER, destination: ME });
  });

  it("signals: from the driver and the allowed name's owner only; NameOwnerChanged of other names dropped; the owner followed", () => {
    const { policy } = connected();
    const signal = (sender: string, member = "Changed"): Message => message({ type: SIGNAL, serial: 20, sender, path: "/x", interface: "org.example", member });
    expect(run(policy, "bus", signal(OWNER)).consumer).toHaveLength(1);
    expect(run(policy, "bus", signal(":1.3")).consumer).toEqual([]);
    const acquired = message({ type: SIGNAL, serial: 21, sender: BUS_DRIVER, destination: ME, path: "/org/freedesktop/DBus", interface: BUS_DRIVER, member: "NameAcquired" }, [ME]);
    expect(run(policy, "bus", acquired).consumer).toHaveLength(1);
    const ownerChanged = (name: string, from: string, to: string): Message =>
      message({ type: SIGNAL, serial: 22, sender: BUS_DRIVER, path: "/org/freedesktop/DBus", interface: BUS_DRIVER, member: "NameOwnerChanged" }, [name, from, to]);
    expect(run(policy, "bus", ownerChanged("org.pantavisor.Example.Private", "", ":1.1")).consumer).toEqual([]);
    expect(run(policy, "bus", ownerChanged(ALLOWED, OWNER, ":1.9")).consumer).toHaveLength(1);
    expect(policy.ownerOfAllowed).toBe(":1.9");
    expect(run(policy, "bus", signal(OWNER)).consumer).toEqual([]); // no longer the owner
    expect(run(policy, "bus", signal(":1.9")).consumer).toHaveLength(1);
    expect(run(policy, "bus", ownerChanged(ALLOWED, ":1.9", "")).consumer).toHaveLength(1);
    expect(policy.ownerOfAllowed).toBeNull();
  });

  it("calls from other peers to the consumer are dropped, unless it owns the allowed name", () => {
    const { policy, serial } = connected();
    const incoming = message({ type: METHOD_CALL, serial: 30, sender: ":1.3", destination: ALLOWED, path: "/", member: "Poke" });
    expect(run(policy, "bus", incoming).consumer).toEqual([]);
    const answer = message({ type: METHOD_RETURN, serial: serial(), replySerial: 30, destination: ":1.3" });
    expect(run(policy, "consumer", answer).bus).toEqual([]); // a reply to a call it never got
    const ownerChanged = message({ type: SIGNAL, serial: 31, sender: BUS_DRIVER, path: "/org/freedesktop/DBus", interface: BUS_DRIVER, member: "NameOwnerChanged" }, [ALLOWED, OWNER, ME]);
    run(policy, "bus", ownerChanged);
    expect(run(policy, "bus", incoming).consumer).toHaveLength(1);
    const reply = message({ type: METHOD_RETURN, serial: serial(), replySerial: 30, destination: ":1.3" });
    expect(run(policy, "consumer", reply).bus).toHaveLength(1);
    expect(run(policy, "consumer", message({ type: METHOD_RETURN, serial: serial(), replySerial: 30, destination: ":1.3" })).bus).toEqual([]); // only once
  });

  it("what ends the connection: unix fds, serials that do not increase or reach the mesh's range", () => {
    const { policy, serial } = connected();
    const call = (s: number, extra: Partial<NewMessage> = {}): Message =>
      decodeMessage(encodeMessage({ type: METHOD_CALL, serial: s, destination: ALLOWED, path: "/", member: "M", ...extra }));
    expect(() => run(policy, "consumer", decodeMessage(withFds(serial())))).toThrow(new PolicyViolation("a message announces 1 unix fd(s), which the mesh does not pass"));
    const fresh = connected();
    const last = fresh.serial();
    run(fresh.policy, "consumer", call(last));
    expect(() => run(fresh.policy, "consumer", call(last))).toThrow(/serial \d+ is not above the previous one/);
    expect(() => run(connected().policy, "consumer", call(MESH_SERIAL_BASE))).toThrow(/in the mesh's range/);
  });

  it("a requirement whose interface is not a bus name: the bus driver only", () => {
    expect(isBusName(ALLOWED)).toBe(true);
    expect(isBusName("dbus")).toBe(false);
    expect(isBusName("org..x")).toBe(false);
    const policy = new ConsumerPolicy(null);
    const hello = run(policy, "consumer", message({ type: METHOD_CALL, serial: 1, ...DRIVER, member: "Hello" }));
    expect(hello.bus).toHaveLength(1); // no watch of an allowed name
    const out = run(policy, "consumer", message({ type: METHOD_CALL, serial: 2, destination: ALLOWED, path: "/", member: "GetInfo" }));
    expect(stringArgs(decodeMessage(out.consumer[0]!), 1)![0]).toMatch(/this consumer may use the bus driver only/);
  });
});

function withFds(serial: number): Buffer {
  return encodeMessage({ type: METHOD_CALL, serial, destination: ALLOWED, path: "/", member: "M", unixFds: 1 });
}
