// The mesh's D-Bus message parser (mesh/types/dbus-wire.ts) on real traffic: a session recorded
// between dbus-next and a real dbus-daemon, fed whole, split at every byte, and one byte at a
// time; big-endian messages built by hand, checked against dbus-next's decoder and a real
// dbus-daemon; malformed headers, each refused with its reason; and random mutations, which may
// only ever end in a WireError.
import { connect } from "node:net";
import { headerTypeName } from "dbus-next/lib/constants";
import DBusBuffer from "dbus-next/lib/dbus-buffer";
import { marshall, unmarshall } from "dbus-next/lib/message";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  encodeMessage, encodeStringArray, encodeStrings, ERROR, MAX_MESSAGE_BYTES, MessageReader, METHOD_CALL,
  METHOD_RETURN, SIGNAL, stringArgs, stringArrayArg, withBody, WireError, type Message, type NewMessage,
} from "../mesh/types/dbus-wire";
import { onPath } from "../mesh/process";
import { cleanUp, scratchDir } from "./support/bundles";
import { captureSession, startPrivateBus, type Capture, type PrivateBus } from "./support/dbus-capture";
import { skipUnless } from "./support/skips";

const HEADER_FIELDS = ["type", "flags", "serial", "path", "interface", "member", "errorName", "replySerial", "destination", "sender", "signature"] as const;

/**
 * The header as dbus-next's codec decodes it, in our field names (for comparison). Read with its
 * DBusBuffer: its unmarshall() fails on a message without a body signature (AddMatch's reply).
 */
function reference(bytes: Buffer): Record<string, unknown> {
  const [, type, flags, , , serial, fields] = new DBusBuffer(bytes, 0, bytes[0]!).read("yyyyuua(yv)") as [number, number, number, number, number, number, [number, [unknown, [unknown]]][]];
  const decoded: Record<string, unknown> = { type, flags, serial };
  for (const [code, [, [value]]] of fields) decoded[headerTypeName[code] ?? `field${code}`] = value;
  return Object.fromEntries(HEADER_FIELDS.map((field) => [field, decoded[field]]).filter(([, value]) => value !== undefined && value !== ""));
}

function ours(message: Message): Record<string, unknown> {
  return Object.fromEntries(HEADER_FIELDS.map((field) => [field, message[field]]).filter(([, value]) => value !== undefined && value !== ""));
}

/** Feeds `stream` to a fresh reader in the given pieces. */
function readInPieces(stream: Buffer, cuts: number[]): Message[] {
  const reader = new MessageReader();
  const messages: Message[] = [];
  let from = 0;
  for (const cut of [...cuts, stream.length]) {
    messages.push(...reader.push(stream.subarray(from, cut)));
    from = cut;
  }
  return messages;
}

/** A small deterministic random source, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

const HAVE_DAEMON = onPath("dbus-daemon");
const NO_DAEMON = "dbus-daemon is not installed (apt-get install dbus)";

describe.skipIf(skipUnless(HAVE_DAEMON, "D-Bus parser on a recorded session", NO_DAEMON))("D-Bus parser on a recorded session", () => {
  let bus: PrivateBus;
  let capture: Capture;
  const streams = (): [string, Buffer][] => [["client to bus", capture.fromClient], ["bus to client", capture.fromBus]];

  beforeAll(async () => {
    const dir = scratchDir("/tmp/pv-wire-");
    bus = await startPrivateBus(dir);
    capture = await captureSession(bus.socket, dir);
  });
  afterAll(async () => {
    await bus?.stop();
    await cleanUp();
  });

  it("reads every recorded message whole, with the header dbus-next reads", () => {
    for (const [what, stream] of streams()) {
      const messages = new MessageReader().push(stream);
      expect(messages.length, what).toBeGreaterThan(8);
      expect(Buffer.concat(messages.map((m) => m.bytes)).equals(stream), what).toBe(true);
      for (const message of messages) expect(ours(message), what).toEqual(reference(message.bytes));
    }
    const types = new MessageReader().push(capture.fromBus).map((m) => m.type);
    expect(new Set(types)).toEqual(new Set([METHOD_RETURN, ERROR, SIGNAL]));
  });

  it("gives the same messages however the stream is split: at every byte, and one byte at a time", () => {
    for (const [what, stream] of streams()) {
      const whole = new MessageReader().push(stream).map((m) => m.bytes.toString("hex"));
      for (let cut = 1; cut < stream.length; cut++) {
        const split = readInPieces(stream, [cut]).map((m) => m.bytes.toString("hex"));
        if (split.length !== whole.length || split.some((hex, i) => hex !== whole[i])) throw new Error(`${what}: split at byte ${cut} read differently`);
      }
      const bytes = readInPieces(stream, Array.from({ length: stream.length - 1 }, (_, i) => i + 1)).map((m) => m.bytes.toString("hex"));
      expect(bytes, what).toEqual(whole);
    }
  });

  it("reads messages packed together (both directions concatenated, three times over)", () => {
    const all = Buffer.concat([capture.fromClient, capture.fromBus, capture.fromClient]);
    const count = (stream: Buffer): number => new MessageReader().push(stream).length;
    expect(new MessageReader().push(all)).toHaveLength(2 * count(capture.fromClient) + count(capture.fromBus));
    // ... and in random pieces of 1 to 300 bytes.
    const next = random(7);
    const cuts: number[] = [];
    for (let at = 1 + Math.floor(next() * 300); at < all.length; at += 1 + Math.floor(next() * 300)) cuts.push(at);
    expect(readInPieces(all, cuts).map((m) => m.serial)).toEqual(new MessageReader().push(all).map((m) => m.serial));
  });

  it("reads the arguments the policy looks at as dbus-next does", () => {
    const fromClient = new MessageReader().push(capture.fromClient);
    const requestName = fromClient.find((m) => m.member === "RequestName")!;
    expect(stringArgs(requestName, 1)).toEqual([(unmarshall(requestName.bytes).body as unknown[])[0]]);
    const addMatch = fromClient.find((m) => m.member === "AddMatch")!;
    expect(stringArgs(addMatch, 1)?.[0]).toMatch(/type='signal'/);
    const listNamesSerial = fromClient.find((m) => m.member === "ListNames")!.serial;
    const names = new MessageReader().push(capture.fromBus).find((m) => m.replySerial === listNamesSerial)!;
    expect(stringArrayArg(names)).toEqual((unmarshall(names.bytes).body as unknown[])[0]);
    expect(stringArgs(names, 1)).toBeNull(); // its signature is "as", not "s"
  });

  it("withBody: a ListNames reply with fewer names keeps its header and decodes as dbus-next reads it", () => {
    const listNamesSerial = new MessageReader().push(capture.fromClient).find((m) => m.member === "ListNames")!.serial;
    const names = new MessageReader().push(capture.fromBus).find((m) => m.replySerial === listNamesSerial)!;
    const rewritten = withBody(names, encodeStringArray(["org.freedesktop.DBus", "org.pantavisor.Test"]));
    const [again] = new MessageReader().push(rewritten);
    expect(ours(again!)).toEqual(ours(names));
    expect(unmarshall(rewritten).body).toEqual([["org.freedesktop.DBus", "org.pantavisor.Test"]]);
  });

  it("never fails but with a WireError on 20,000 random mutations of the recorded messages", () => {
    const corpus = [...new MessageReader().push(capture.fromClient), ...new MessageReader().push(capture.fromBus)].map((m) => m.bytes);
    const next = random(11);
    const outcomes = { messages: 0, refused: 0, incomplete: 0 };
    for (let i = 0; i < 20_000; i++) {
      const bytes = Buffer.from(corpus[Math.floor(next() * corpus.length)]!);
      for (let flips = 1 + Math.floor(next() * 4); flips > 0; flips--) {
        const at = Math.floor(next() * bytes.length);
        bytes[at] = next() < 0.5 ? Math.floor(next() * 256) : bytes[at]! ^ (1 << Math.floor(next() * 8));
      }
      const mutated = next() < 0.2 ? bytes.subarray(0, Math.floor(next() * bytes.length)) : bytes;
      try {
        const read = new MessageReader().push(mutated);
        if (read.length === 0) outcomes.incomplete++;
        for (const message of read) {
          outcomes.messages++;
          expect(message.bodyOffset % 8).toBe(0);
          expect(message.bodyOffset + message.bodyLength).toBe(message.bytes.length);
        }
      } catch (error) {
        if (!(error instanceof WireError)) throw new Error(`mutation ${i} (${mutated.toString("hex")}) threw ${String(error)}`);
        outcomes.refused++;
      }
    }
    expect(outcomes.refused).toBeGreaterThan(1000);
    expect(outcomes.messages).toBeGreaterThan(1000);
  });

  it("big-endian messages built by hand: read like their little-endian twins, by us, by dbus-next and by a real dbus-daemon", async () => {
    const call = { type: METHOD_CALL, serial: 1, destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus", member: "Hello" };
    const getOwner = { ...call, serial: 2, member: "GetNameOwner", signature: "s" };
    const listNames = { ...call, serial: 3, member: "ListNames" };
    const error = { type: ERROR, serial: 7, replySerial: 3, sender: "org.pantavisor.xconnect", errorName: "org.freedesktop.DBus.Error.AccessDenied", signature: "s" };
    const samples: [NewMessage, string[]][] = [[call, []], [getOwner, ["org.pantavisor.Test"]], [listNames, []], [error, ["no"]]];
    for (const [message, args] of samples) {
      const big = encodeMessage({ ...message, littleEndian: false, body: encodeStrings(args, false) });
      const little = encodeMessage({ ...message, body: encodeStrings(args) });
      expect(big[0]).toBe(0x42);
      expect(ours(new MessageReader().push(big)[0]!)).toEqual(ours(new MessageReader().push(little)[0]!));
      expect(reference(big)).toEqual(reference(little));
      if (args.length > 0) expect(unmarshall(big).body).toEqual(unmarshall(little).body);
    }
    // A real daemon takes them: Hello, GetNameOwner and ListNames in big-endian, read back by our reader.
    const socket = connect(bus.socket);
    const received: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => received.push(chunk));
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.write(`\0AUTH EXTERNAL ${Buffer.from(String(process.getuid?.() ?? 0)).toString("hex")}\r\n`);
    await new Promise((resolve) => socket.once("data", resolve));
    const owner = { ...getOwner, littleEndian: false, body: encodeStrings(["org.pantavisor.Test"], false) };
    socket.write(Buffer.concat([Buffer.from("BEGIN\r\n"), encodeMessage({ ...call, littleEndian: false }), encodeMessage(owner), encodeMessage({ ...listNames, littleEndian: false })]));
    const replies = new MessageReader();
    const answered: Message[] = [];
    const ok = received.join("").indexOf("\r\n") + 2;
    answered.push(...replies.push(Buffer.concat(received).subarray(ok)));
    received.length = 0;
    for (let waited = 0; answered.filter((m) => m.replySerial !== undefined).length < 3 && waited < 5000; waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      answered.push(...replies.push(Buffer.concat(received.splice(0))));
    }
    socket.destroy();
    const byCall = new Map(answered.filter((m) => m.replySerial !== undefined).map((m) => [m.replySerial, m]));
    expect(byCall.get(1)?.type).toBe(METHOD_RETURN);
    expect(stringArgs(byCall.get(1)!, 1)?.[0]).toMatch(/^:1\.\d+$/);
    expect(byCall.get(2)?.type).toBe(ERROR); // nobody owns org.pantavisor.Test after the recorded session
    expect(stringArrayArg(byCall.get(3)!)).toContain("org.freedesktop.DBus");
  });
});

describe("D-Bus parser: malformed and oversize input", () => {
  const good = (): Buffer =>
    encodeMessage({ type: METHOD_CALL, serial: 5, destination: "org.pantavisor.Example", path: "/org/pantavisor/Example", interface: "org.pantavisor.Example", member: "GetInfo" });
  const patched = (at: number, bytes: number[]): Buffer => {
    const message = good();
    bytes.forEach((byte, i) => (message[at + i] = byte));
    return message;
  };
  // Header fields of good(): path (code 1) at 16, destination (code 6) after it.
  const destinationAt = good().indexOf(Buffer.from([6, 1, 0x73, 0]));

  const CASES: [string, () => Buffer, RegExp][] = [
    ["an endianness byte that is neither l nor B", () => patched(0, [0x58]), /endianness byte 0x58 is neither 'l' nor 'B'/],
    ["protocol version 2", () => patched(3, [2]), /protocol version 2, not 1/],
    ["message type 0", () => patched(1, [0]), /unknown message type 0/],
    ["message type 9", () => patched(1, [9]), /unknown message type 9/],
    ["serial 0", () => patched(8, [0, 0, 0, 0]), /serial 0/],
    ["a header field of the wrong type", () => patched(destinationAt + 2, [0x75]), /field destination has type "u", not "s"/],
    ["an unknown header field", () => patched(destinationAt, [42]), /unknown header field 42/],
    ["a field twice", () => patched(destinationAt, [2]), /field interface appears twice/],
    ["a string without its NUL", () => { const m = good(); m[m.indexOf("GetInfo") + 7] = 0x41; return m; }, /field member runs past the header or lacks its NUL/],
    // encodeMessage({path: "/a", ...}): the path's string ends at byte 27, padding runs to 32.
    ["non-zero padding", () => { const m = encodeMessage({ type: METHOD_CALL, serial: 1, path: "/a", member: "M" }); m[28] = 1; return m; }, /non-zero padding/],
    ["a NUL inside a name", () => encodeMessage({ type: METHOD_CALL, serial: 1, destination: "org.pantavisor.Example\0.Private", path: "/", member: "M" }), /field destination contains a NUL byte/],
    ["a string length past the header fields", () => { const m = good(); m.writeUInt32LE(0xffff, m.indexOf("GetInfo") - 4); return m; }, /field member runs past the header/],
    ["a method call without member", () => encodeMessage({ type: METHOD_CALL, serial: 1, path: "/" }), /method call without path and member/],
    ["a signal on org.freedesktop.DBus.Local", () => encodeMessage({ type: SIGNAL, serial: 1, path: "/", interface: "org.freedesktop.DBus.Local", member: "Disconnected" }), /reserved org\.freedesktop\.DBus\.Local/],
    ["a body without a signature", () => encodeMessage({ type: METHOD_CALL, serial: 1, path: "/", member: "X", body: Buffer.alloc(8) }), /without a signature for its body/],
    ["a header-field array of 4 GiB", () => patched(12, [0xff, 0xff, 0xff, 0xff]), /oversize message: \d+ bytes announced/],
  ];

  it.each(CASES)("%s: refused with the reason", (_, bytes, reason) => {
    expect(() => new MessageReader().push(bytes())).toThrow(WireError);
    expect(() => new MessageReader().push(bytes())).toThrow(reason);
  });

  it("an oversize message is refused from its 16-byte fixed header, before the rest arrives", () => {
    const header = Buffer.from("6c0100010000001009000000" + "00000000", "hex"); // 256 MiB body
    expect(() => new MessageReader().push(header)).toThrow(`oversize message: ${2 ** 28 + 16} bytes announced, over the limit of ${MAX_MESSAGE_BYTES}`);
    // Within the limit but not all there: nothing yet, and nothing thrown.
    const reader = new MessageReader();
    expect(reader.push(Buffer.from("6c0100010000100009000000" + "00000000", "hex"))).toEqual([]);
  });

  it("a message just at the limit is read; one byte over is refused", () => {
    const body = (length: number): Buffer => encodeStrings(["x".repeat(length)]);
    const header = encodeMessage({ type: METHOD_CALL, serial: 1, path: "/", member: "Big", signature: "s" }).length;
    const exact = encodeMessage({ type: METHOD_CALL, serial: 1, path: "/", member: "Big", signature: "s", body: body(MAX_MESSAGE_BYTES - header - 5) });
    expect(exact.length).toBe(MAX_MESSAGE_BYTES);
    expect(new MessageReader().push(exact)).toHaveLength(1);
    const over = encodeMessage({ type: METHOD_CALL, serial: 1, path: "/", member: "Big", signature: "s", body: body(MAX_MESSAGE_BYTES - header - 4) });
    expect(() => new MessageReader().push(over)).toThrow(/oversize message/);
  });

  it("messages dbus-next encodes read back field for field, and ours decode in dbus-next", () => {
    const samples = [
      { type: METHOD_CALL, serial: 3, destination: "org.pantavisor.Example", path: "/org/pantavisor/Example", interface: "org.pantavisor.Example", member: "GetInfo" },
      { type: SIGNAL, serial: 4, path: "/a/b", interface: "org.example.I", member: "Changed", signature: "as", body: [["x", "yy"]] },
      { type: ERROR, serial: 5, replySerial: 2, destination: ":1.7", errorName: "org.freedesktop.DBus.Error.Failed", signature: "s", body: ["why"] },
    ];
    for (const sample of samples) {
      const [bytes] = marshall(sample);
      expect(ours(new MessageReader().push(bytes)[0]!)).toEqual(reference(bytes));
    }
    expect(reference(good())).toMatchObject({ member: "GetInfo", destination: "org.pantavisor.Example", serial: 5 });
  });
});
