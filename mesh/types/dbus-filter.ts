// The documented profile's D-Bus connection, on the sockets: the SASL exchange relayed line by line
// with the role's uid in every EXTERNAL claim, then every message through ./dbus-policy.ts.
//
// Where the exchange ends matters (CVE-2018-6560: bytes sent in the same write as BEGIN went to
// the bus unfiltered in an old flatpak proxy). Here the BEGIN line is the end for both sides at
// once: the bytes after it are held, and go through the filter, and BEGIN itself goes to the bus
// only once the bus has answered every earlier line and its last answer was OK. A BEGIN sent
// before the bus accepted the authentication closes the connection: the bus would otherwise still
// read what follows as SASL lines while the mesh reads it as messages, and the two would disagree
// about where the messages start.
//
// The mesh answers NEGOTIATE_UNIX_FD itself with ERROR, in its place among the bus's answers:
// a Node socket carries no file descriptors, so a message that announces some closes the connection.
import type { Socket } from "node:net";
import { PolicyViolation, type ConsumerPolicy, type Output } from "./dbus-policy";
import { MAX_MESSAGE_BYTES, MessageReader, WireError } from "./dbus-wire";

const MAX_SASL_LINE = 16 * 1024;
const CRLF = "\r\n";

export type Handshake = { ok: true; rest: Buffer } | { ok: false; why: string | null };

/** What the documented profile forwards for one consumer line: the role's uid in every EXTERNAL claim. */
function rewriteClaim(line: string, id: string): string {
  if (/^AUTH EXTERNAL [0-9A-Fa-f]+$/.test(line)) return `AUTH EXTERNAL ${id}`;
  if (/^DATA [0-9A-Fa-f]+$/.test(line)) return `DATA ${id}`;
  return line;
}

/** The first line of `buffer` and what follows it, or null while the line is incomplete. */
function takeLine(buffer: Buffer): [string, Buffer] | null {
  const end = buffer.indexOf(CRLF);
  return end === -1 ? null : [buffer.toString("latin1", 0, end), buffer.subarray(end + 2)];
}

/**
 * Relays the SASL exchange between a consumer and a provider connection whose peer is the role's
 * uid (`id`: its SASL EXTERNAL form). Resolves when BEGIN went through, with the consumer's bytes
 * that followed it, and both sockets paused; or with why it ended (null: a side closed).
 */
export function authenticate(consumer: Socket, provider: Socket, id: string): Promise<Handshake> {
  return new Promise((resolve) => {
    let fromConsumer: Buffer = Buffer.alloc(0);
    let fromProvider: Buffer = Buffer.alloc(0);
    let sawNul = false;
    // The answers the consumer is owed, in the order of its lines: the bus's (null until it
    // arrives) or the mesh's own.
    const answers: (string | null)[] = [];
    let lastBusAnswer = "";
    let afterBegin: Buffer | null = null;
    let done = false;

    const finish = (result: Handshake): void => {
      if (done) return;
      done = true;
      consumer.off("data", onConsumer);
      provider.off("data", onProvider);
      consumer.off("close", onClose);
      provider.off("close", onClose);
      consumer.pause();
      provider.pause();
      resolve(result);
    };
    const onClose = (): void => finish({ ok: false, why: null });
    const fail = (why: string): void => finish({ ok: false, why });

    const flush = (): void => {
      while (answers.length > 0 && answers[0] !== null) consumer.write(`${answers.shift()}${CRLF}`, "latin1");
      if (afterBegin === null || answers.length > 0) return;
      if (!/^OK( |$)/.test(lastBusAnswer)) return fail("BEGIN before the bus accepted the authentication");
      provider.write(`BEGIN${CRLF}`);
      finish({ ok: true, rest: afterBegin });
    };

    const onConsumer = (chunk: Buffer): void => {
      if (afterBegin !== null) {
        // Held until the bus has answered; the filter reads them. Bounded like one message.
        afterBegin = Buffer.concat([afterBegin, chunk]);
        if (afterBegin.length > MAX_MESSAGE_BYTES) fail(`more than ${MAX_MESSAGE_BYTES} bytes sent before the bus answered`);
        return;
      }
      fromConsumer = fromConsumer.length === 0 ? chunk : Buffer.concat([fromConsumer, chunk]);
      if (!sawNul && fromConsumer.length > 0) {
        // Every D-Bus connection opens with one NUL byte (with it, BSD kernels pass credentials).
        if (fromConsumer[0] !== 0) return fail("the connection did not start with the NUL byte");
        sawNul = true;
        provider.write(fromConsumer.subarray(0, 1));
        fromConsumer = fromConsumer.subarray(1);
      }
      for (let taken = takeLine(fromConsumer); taken !== null; taken = takeLine(fromConsumer)) {
        const [line, rest] = taken;
        fromConsumer = rest;
        // SASL lines are printable ASCII commands in capitals; nothing else is relayed.
        if (!/^[A-Z][\x20-\x7e]*$/.test(line)) return fail(`malformed SASL line ${JSON.stringify(line.slice(0, 40))}`);
        const command = line.split(" ", 1)[0];
        if (command === "BEGIN") {
          afterBegin = fromConsumer;
          return flush();
        }
        if (command === "NEGOTIATE_UNIX_FD") answers.push("ERROR");
        else {
          provider.write(`${rewriteClaim(line, id)}${CRLF}`, "latin1");
          answers.push(null);
        }
        flush();
      }
      if (fromConsumer.length > MAX_SASL_LINE) fail(`SASL line longer than ${MAX_SASL_LINE} bytes`);
    };

    const onProvider = (chunk: Buffer): void => {
      fromProvider = fromProvider.length === 0 ? chunk : Buffer.concat([fromProvider, chunk]);
      for (let taken = takeLine(fromProvider); taken !== null; taken = takeLine(fromProvider)) {
        const [line, rest] = taken;
        fromProvider = rest;
        const slot = answers.indexOf(null);
        if (slot === -1) return fail(`the bus sent an unexpected SASL line ${JSON.stringify(line.slice(0, 40))}`);
        answers[slot] = line;
        lastBusAnswer = line;
      }
      if (fromProvider.length > MAX_SASL_LINE) return fail(`the bus sent a SASL line longer than ${MAX_SASL_LINE} bytes`);
      flush();
    };

    consumer.on("data", onConsumer);
    provider.on("data", onProvider);
    consumer.once("close", onClose);
    provider.once("close", onClose);
    consumer.resume();
    provider.resume();
  });
}

/** Writes a batch of whole messages at once (one writev). */
function send(socket: Socket, buffers: Buffer[]): void {
  if (buffers.length === 1) socket.write(buffers[0]!);
  else if (buffers.length > 1) {
    socket.cork();
    for (const buffer of buffers) socket.write(buffer);
    socket.uncork();
  }
}

/** Backpressure: stops reading `source` until every socket it wrote to has drained. */
function holdWhileFull(source: Socket, targets: Socket[]): void {
  const full = targets.filter((target) => target.writableNeedDrain);
  if (full.length === 0) return;
  source.pause();
  let waiting = full.length;
  for (const target of full) target.once("drain", () => --waiting === 0 && source.resume());
}

/**
 * After the handshake: every message in either direction goes through `policy`. A malformed,
 * oversize or fd-carrying message closes both connections with one line to `log`; the other
 * connections of the mesh are not affected.
 */
export function relayFiltered(consumer: Socket, provider: Socket, policy: ConsumerPolicy, rest: Buffer, log: (why: string) => void): void {
  const fromConsumer = new MessageReader();
  const fromBus = new MessageReader();
  let closed = false;
  const close = (why: string | null): void => {
    if (closed) return;
    closed = true;
    if (why !== null) log(why);
    consumer.destroy();
    provider.destroy();
  };

  const pass = (chunk: Buffer, reader: MessageReader, side: "consumer" | "bus"): Output | null => {
    const out: Output = { bus: [], consumer: [] };
    try {
      for (const message of reader.push(chunk)) {
        if (side === "consumer") policy.fromConsumer(message, out);
        else policy.fromBus(message, out);
      }
      return out;
    } catch (error) {
      const from = side === "bus" ? " (from the bus)" : "";
      if (error instanceof WireError || error instanceof PolicyViolation) close(`${error.message}${from}`);
      else close(`internal error, a bug in the mesh${from}: ${(error as Error).stack ?? String(error)}`);
      return null;
    }
  };
  const onConsumer = (chunk: Buffer): void => {
    const out = pass(chunk, fromConsumer, "consumer");
    if (out === null) return;
    send(provider, out.bus);
    send(consumer, out.consumer);
    holdWhileFull(consumer, [provider, consumer]);
  };
  const onProvider = (chunk: Buffer): void => {
    const out = pass(chunk, fromBus, "bus");
    if (out === null) return;
    send(consumer, out.consumer);
    holdWhileFull(provider, [consumer]);
  };

  consumer.on("data", onConsumer);
  provider.on("data", onProvider);
  // As the documented splice does: a half-close is passed on, a close or an error ends both.
  consumer.on("end", () => provider.end());
  provider.on("end", () => consumer.end());
  consumer.on("close", () => close(null));
  provider.on("close", () => close(null));
  consumer.on("error", () => close(null));
  provider.on("error", () => close(null));
  if (rest.length > 0) onConsumer(rest);
  consumer.resume();
  provider.resume();
}
