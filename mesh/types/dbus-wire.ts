// The D-Bus wire format, as much of it as the mesh needs to filter a connection: a reader that cuts
// a byte stream into messages (however the stream was split into reads) and decodes their headers,
// readers for the few arguments the policy looks at, and an encoder for the messages the mesh
// writes itself (its own calls, the errors it answers, a filtered ListNames reply).
// Spec: https://dbus.freedesktop.org/doc/dbus-specification.html#message-protocol-messages
//
// A message is a 16-byte fixed header (endianness 'l' or 'B', type, flags, version 1, body length,
// serial, length of the header-field array), the array of (code, variant) header fields, each one
// 8-aligned, padding to 8, then the body. The reader checks everything a filter must be able to
// trust: known field codes with their types, no field twice (the bus and the mesh must read the
// same destination), the fields each type requires, sizes within the limit. It leaves the rest
// (name syntax, the body) to the bus, which validates every message it is given.
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

export const METHOD_CALL = 1;
export const METHOD_RETURN = 2;
export const ERROR = 3;
export const SIGNAL = 4;
export const NO_REPLY_EXPECTED = 0x1;

const FIXED_HEADER = 16;
const LITTLE = 0x6c; // 'l'
const BIG = 0x42; // 'B'
const TYPE_NAMES = ["", "method call", "method return", "error", "signal"];

/** A byte stream that is not D-Bus as the spec allows it; the message says what was wrong. */
export class WireError extends Error {}

export interface Message {
  /** The whole message, as received. */
  bytes: Buffer;
  littleEndian: boolean;
  type: number;
  flags: number;
  serial: number;
  bodyOffset: number;
  bodyLength: number;
  path?: string;
  interface?: string;
  member?: string;
  errorName?: string;
  replySerial?: number;
  destination?: string;
  sender?: string;
  signature?: string;
  unixFds?: number;
}

type FieldName = "path" | "interface" | "member" | "errorName" | "replySerial" | "destination" | "sender" | "signature" | "unixFds";

// Header field codes and the one type each may have.
const FIELDS: Record<number, { name: FieldName; type: "o" | "s" | "u" | "g" }> = {
  1: { name: "path", type: "o" },
  2: { name: "interface", type: "s" },
  3: { name: "member", type: "s" },
  4: { name: "errorName", type: "s" },
  5: { name: "replySerial", type: "u" },
  6: { name: "destination", type: "s" },
  7: { name: "sender", type: "s" },
  8: { name: "signature", type: "g" },
  9: { name: "unixFds", type: "u" },
};

// Arithmetic, not bit operations: lengths read off the wire go up to 2^32, past 32-bit integers.
const align = (offset: number, to: number): number => Math.ceil(offset / to) * to;

/**
 * The total size of the message whose fixed header starts at `offset`, after checking that header:
 * what can be refused before the rest of the message arrives is refused at once.
 */
function messageSize(data: Buffer, offset: number, limit: number): number {
  const endian = data[offset];
  if (endian !== LITTLE && endian !== BIG) throw new WireError(`malformed header: endianness byte 0x${endian!.toString(16)} is neither 'l' nor 'B'`);
  const type = data[offset + 1]!;
  if (type < METHOD_CALL || type > SIGNAL) throw new WireError(`malformed header: unknown message type ${type}`);
  if (data[offset + 3] !== 1) throw new WireError(`malformed header: protocol version ${data[offset + 3]}, not 1`);
  const le = endian === LITTLE;
  const bodyLength = le ? data.readUInt32LE(offset + 4) : data.readUInt32BE(offset + 4);
  const fieldsLength = le ? data.readUInt32LE(offset + 12) : data.readUInt32BE(offset + 12);
  const size = align(FIXED_HEADER + fieldsLength, 8) + bodyLength;
  if (size > limit) throw new WireError(`oversize message: ${size} bytes announced, over the limit of ${limit}`);
  return size;
}

/** Skips the padding up to the next multiple of `to`, which must be zero bytes inside `end`. */
function skipPadding(bytes: Buffer, at: number, to: number, end: number): number {
  const next = align(at, to);
  if (next > end) throw new WireError("malformed header: padding runs past the header fields");
  for (let i = at; i < next; i++) if (bytes[i] !== 0) throw new WireError("malformed header: non-zero padding");
  return next;
}

/** Decodes the header of one complete message (`bytes` holds exactly one). */
export function decodeMessage(bytes: Buffer): Message {
  const le = bytes[0] === LITTLE;
  const u32 = (at: number): number => (le ? bytes.readUInt32LE(at) : bytes.readUInt32BE(at));
  const message: Message = { bytes, littleEndian: le, type: bytes[1]!, flags: bytes[2]!, serial: u32(8), bodyOffset: 0, bodyLength: u32(4) };
  if (message.serial === 0) throw new WireError("malformed header: serial 0");
  const end = FIXED_HEADER + u32(12);
  const fields = message as unknown as Record<FieldName, string | number | undefined>;
  let at = FIXED_HEADER;
  while (at < end) {
    at = skipPadding(bytes, at, 8, end);
    if (at + 3 > end) throw new WireError("malformed header: truncated header field");
    const code = bytes[at]!;
    // The variant's signature: one length byte, the type codes, a NUL.
    const signatureLength = bytes[at + 1]!;
    const signatureEnd = at + 2 + signatureLength;
    if (signatureEnd >= end || bytes[signatureEnd] !== 0) throw new WireError(`malformed header: field ${code} has a malformed type`);
    const type = bytes.toString("latin1", at + 2, signatureEnd);
    at = signatureEnd + 1;
    const field = FIELDS[code];
    if (field === undefined) throw new WireError(`malformed header: unknown header field ${code}`);
    if (type !== field.type) throw new WireError(`malformed header: field ${field.name} has type "${type}", not "${field.type}"`);
    if (fields[field.name] !== undefined) throw new WireError(`malformed header: field ${field.name} appears twice`);
    if (field.type === "u") {
      at = skipPadding(bytes, at, 4, end);
      if (at + 4 > end) throw new WireError(`malformed header: field ${field.name} is truncated`);
      fields[field.name] = u32(at);
      at += 4;
    } else {
      let length: number;
      if (field.type === "g") {
        length = bytes[at]!;
        at += 1;
      } else {
        at = skipPadding(bytes, at, 4, end);
        if (at + 4 > end) throw new WireError(`malformed header: field ${field.name} is truncated`);
        length = u32(at);
        at += 4;
      }
      if (at + length >= end || bytes[at + length] !== 0) throw new WireError(`malformed header: field ${field.name} runs past the header or lacks its NUL`);
      // The first NUL must be the terminating one.
      if (bytes.indexOf(0, at) !== at + length) throw new WireError(`malformed header: field ${field.name} contains a NUL byte`);
      fields[field.name] = bytes.toString("latin1", at, at + length);
      at += length + 1;
    }
  }
  message.bodyOffset = skipPadding(bytes, end, 8, align(end, 8));
  if (message.bodyOffset + message.bodyLength !== bytes.length) throw new WireError("malformed header: lengths do not add up");
  checkRequiredFields(message);
  return message;
}

/** The fields the spec requires for each message type (what the policy relies on being there). */
function checkRequiredFields(message: Message): void {
  const missing = (what: string): never => {
    throw new WireError(`malformed header: ${TYPE_NAMES[message.type]} without ${what}`);
  };
  if (message.replySerial === 0) missing("a non-zero reply serial");
  if (message.bodyLength > 0 && message.signature === undefined) missing("a signature for its body");
  switch (message.type) {
    case METHOD_CALL:
      if (message.path === undefined || message.member === undefined) missing("path and member");
      break;
    case METHOD_RETURN:
      if (message.replySerial === undefined) missing("a reply serial");
      break;
    case ERROR:
      if (message.replySerial === undefined || message.errorName === undefined) missing("a reply serial and an error name");
      break;
    case SIGNAL:
      if (message.path === undefined || message.interface === undefined || message.member === undefined) missing("path, interface and member");
      if (message.path === "/org/freedesktop/DBus/Local" || message.interface === "org.freedesktop.DBus.Local") {
        throw new WireError("malformed header: signal on the reserved org.freedesktop.DBus.Local");
      }
      break;
  }
}

/**
 * Cuts a byte stream into messages. Bytes arrive in any split (one message over many reads, many
 * in one read); push() returns the messages they complete, as views of the received bytes. A bad
 * fixed header is refused as soon as its 16 bytes are in, before the rest of the message arrives.
 */
export class MessageReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Size of the message being assembled, once its fixed header is in (0 before). */
  private expected = 0;

  constructor(private readonly limit = MAX_MESSAGE_BYTES) {}

  /** Adds bytes; returns the messages they complete. Throws a WireError for a malformed or oversize message. */
  push(chunk: Buffer): Message[] {
    if (this.buffered > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      // Still short of the message (or of its fixed header): keep the pieces, copy nothing yet.
      if (this.buffered < (this.expected || FIXED_HEADER)) return [];
      chunk = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
      this.chunks = [];
      this.buffered = 0;
      this.expected = 0;
    }
    const messages: Message[] = [];
    let offset = 0;
    while (chunk.length - offset >= FIXED_HEADER) {
      const size = messageSize(chunk, offset, this.limit);
      if (chunk.length - offset < size) {
        this.expected = size;
        break;
      }
      messages.push(decodeMessage(chunk.subarray(offset, offset + size)));
      offset += size;
    }
    if (offset < chunk.length) {
      this.chunks = [chunk.subarray(offset)];
      this.buffered = chunk.length - offset;
    }
    return messages;
  }
}

// --- arguments the policy reads -----------------------------------------------------------------

/** Reads the strings of a body left to right; null when the body does not hold what it claims. */
class BodyCursor {
  private at: number;
  private readonly end: number;

  constructor(private readonly message: Message) {
    this.at = message.bodyOffset;
    this.end = message.bodyOffset + message.bodyLength;
  }

  private u32(): number | null {
    const at = align(this.at, 4);
    if (at + 4 > this.end) return null;
    this.at = at + 4;
    const { bytes, littleEndian } = this.message;
    return littleEndian ? bytes.readUInt32LE(at) : bytes.readUInt32BE(at);
  }

  string(): string | null {
    const length = this.u32();
    if (length === null || this.at + length >= this.end || this.message.bytes[this.at + length] !== 0) return null;
    const value = this.message.bytes.toString("latin1", this.at, this.at + length);
    this.at += length + 1;
    return value;
  }

  strings(): string[] | null {
    const length = this.u32();
    if (length === null || this.at + length > this.end) return null;
    const arrayEnd = this.at + length;
    const values: string[] = [];
    while (this.at < arrayEnd) {
      const value = this.string();
      if (value === null || this.at > arrayEnd) return null;
      values.push(value);
    }
    return values;
  }
}

/** The first `count` arguments, when the body's signature starts with that many strings; else null. */
export function stringArgs(message: Message, count: number): string[] | null {
  if (!(message.signature ?? "").startsWith("s".repeat(count))) return null;
  const cursor = new BodyCursor(message);
  const values: string[] = [];
  for (let i = 0; i < count; i++) {
    const value = cursor.string();
    if (value === null) return null;
    values.push(value);
  }
  return values;
}

/** The first argument as an array of strings (ListNames' reply), when the signature starts with "as"; else null. */
export function stringArrayArg(message: Message): string[] | null {
  if (!(message.signature ?? "").startsWith("as")) return null;
  return new BodyCursor(message).strings();
}

// --- encoding -----------------------------------------------------------------------------------

/** A growing buffer that writes D-Bus values with their alignment (offsets from the message start). */
class Writer {
  private buffer = Buffer.alloc(256);
  length = 0;

  constructor(private readonly littleEndian: boolean) {}

  private room(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const bigger = Buffer.alloc(Math.max(this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(bigger, 0, 0, this.length);
    this.buffer = bigger;
  }

  pad(to: number): void {
    const next = align(this.length, to);
    this.room(next - this.length);
    this.buffer.fill(0, this.length, next);
    this.length = next;
  }

  byte(value: number): void {
    this.room(1);
    this.buffer[this.length++] = value;
  }

  u32(value: number): void {
    this.pad(4);
    this.room(4);
    if (this.littleEndian) this.buffer.writeUInt32LE(value, this.length);
    else this.buffer.writeUInt32BE(value, this.length);
    this.length += 4;
  }

  patchU32(at: number, value: number): void {
    if (this.littleEndian) this.buffer.writeUInt32LE(value, at);
    else this.buffer.writeUInt32BE(value, at);
  }

  raw(bytes: Buffer): void {
    this.room(bytes.length);
    bytes.copy(this.buffer, this.length);
    this.length += bytes.length;
  }

  string(value: string): void {
    const bytes = Buffer.from(value, "latin1");
    this.u32(bytes.length);
    this.raw(bytes);
    this.byte(0);
  }

  signature(value: string): void {
    this.byte(value.length);
    this.raw(Buffer.from(value, "latin1"));
    this.byte(0);
  }

  done(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}

/** A body of string arguments (signature "s", "ss", ...). */
export function encodeStrings(values: string[], littleEndian = true): Buffer {
  const writer = new Writer(littleEndian);
  for (const value of values) writer.string(value);
  return writer.done();
}

/** A body holding one array of strings (signature "as"). */
export function encodeStringArray(values: string[], littleEndian = true): Buffer {
  const writer = new Writer(littleEndian);
  writer.u32(0);
  const start = writer.length;
  for (const value of values) writer.string(value);
  writer.patchU32(start - 4, writer.length - start);
  return writer.done();
}

export interface NewMessage {
  littleEndian?: boolean;
  type: number;
  flags?: number;
  serial: number;
  path?: string;
  interface?: string;
  member?: string;
  errorName?: string;
  replySerial?: number;
  destination?: string;
  sender?: string;
  signature?: string;
  unixFds?: number;
  /** Encoded with the same endianness (encodeStrings, encodeStringArray). */
  body?: Buffer;
}

/** Encodes a whole message. */
export function encodeMessage(message: NewMessage): Buffer {
  const littleEndian = message.littleEndian ?? true;
  const body = message.body ?? Buffer.alloc(0);
  const writer = new Writer(littleEndian);
  writer.raw(Buffer.from([littleEndian ? LITTLE : BIG, message.type, message.flags ?? 0, 1]));
  writer.u32(body.length);
  writer.u32(message.serial);
  writer.u32(0); // the header-field array's length, patched below
  const values = message as unknown as Record<FieldName, string | number | undefined>;
  for (const [code, field] of Object.entries(FIELDS)) {
    const value = values[field.name];
    if (value === undefined) continue;
    writer.pad(8);
    writer.byte(Number(code));
    writer.signature(field.type);
    if (field.type === "u") writer.u32(value as number);
    else if (field.type === "g") writer.signature(value as string);
    else writer.string(value as string);
  }
  writer.patchU32(12, writer.length - FIXED_HEADER);
  writer.pad(8);
  writer.raw(body);
  return writer.done();
}

/** The same message with another body (same header fields and signature; body length updated). */
export function withBody(message: Message, body: Buffer): Buffer {
  const bytes = Buffer.concat([message.bytes.subarray(0, message.bodyOffset), body]);
  if (message.littleEndian) bytes.writeUInt32LE(body.length, 4);
  else bytes.writeUInt32BE(body.length, 4);
  return bytes;
}
