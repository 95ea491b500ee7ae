// The dbus-attacker's connection spoken by hand: SASL lines first, then D-Bus messages framed by
// their lengths, encoded and decoded with dbus-next's wire codec. dbus-next's own connection
// always runs an honest SASL exchange and sends only well-formed messages; the attempts need
// neither (main.ts).
import { connect, type Socket } from "node:net";
import { headerTypeName } from "dbus-next/lib/constants";
import DBusBuffer from "dbus-next/lib/dbus-buffer";
import { marshall, unmarshall, type WireMessage } from "dbus-next/lib/message";
import { reason } from "../../shared/log";

export const DRIVER = "org.freedesktop.DBus";
export const ROOT_CLAIM = "30"; // SASL EXTERNAL for uid 0: the decimal digits, hex-encoded
export const STEP_TIMEOUT_MS = 3000;
export const [METHOD_CALL, METHOD_RETURN, ERROR, SIGNAL] = [1, 2, 3, 4];
export const BUS_CALL = { type: METHOD_CALL, path: "/org/freedesktop/DBus", interface: DRIVER, destination: DRIVER };

/** The bus cannot be reached at all: nothing was tested. */
export class Unreachable extends Error {}

/** The SASL EXTERNAL form of a uid: its decimal digits, hex-encoded (0 -> "30"). */
export function externalId(uid: number): string {
  return Buffer.from(String(uid), "ascii").toString("hex");
}

/** One connection spoken by hand: SASL lines first, then length-framed D-Bus messages. */
export class RawBus {
  private buffer = Buffer.alloc(0);
  private closed = false;
  private wake: () => void = () => {};
  private serial = 1;
  private kept: WireMessage[] = [];
  uniqueName = "";

  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => ((this.buffer = Buffer.concat([this.buffer, chunk])), this.wake()));
    socket.on("close", () => ((this.closed = true), this.wake()));
    socket.on("error", () => {}); // seen as "closed" by the reader
  }

  static open(path: string): Promise<RawBus> {
    return new Promise((resolve, reject) => {
      const socket = connect(path, () => {
        socket.write("\0"); // the credentials byte that opens every D-Bus connection
        resolve(new RawBus(socket));
      });
      socket.once("error", (error) => reject(new Unreachable(`cannot connect to ${path}: ${reason(error)}`)));
    });
  }

  /** Sends one SASL command; resolves with the bus's one-line answer. */
  async sasl(command: string): Promise<string> {
    this.socket.write(`${command}\r\n`);
    const line = await this.take(() => {
      const end = this.buffer.indexOf("\r\n");
      return end === -1 ? null : end + 2;
    });
    return line.toString("latin1").trim();
  }

  /**
   * Authenticates with our own uid, as an honest client does; if the bus rejects that, claims
   * uid 0 on the same connection (the hole of (b)). Resolves with how we got in, or null.
   */
  async authenticate(): Promise<string | null> {
    if ((await this.sasl(`AUTH EXTERNAL ${externalId(process.getuid?.() ?? 0)}`)).startsWith("OK")) return "with our own uid";
    return (await this.sasl(`AUTH EXTERNAL ${ROOT_CLAIM}`)).startsWith("OK") ? "by claiming uid 0 after a rejection" : null;
  }

  /** Ends SASL, says Hello, and learns our unique name. `packed` goes in the same write as BEGIN. */
  async begin(...packed: Omit<WireMessage, "serial">[]): Promise<number[]> {
    const hello = this.encode({ ...BUS_CALL, member: "Hello" });
    const extra = packed.map((message) => this.encode(message));
    this.socket.write(Buffer.concat([Buffer.from("BEGIN\r\n"), hello.bytes, ...extra.map((e) => e.bytes)]));
    const reply = await this.next((m) => m.replySerial === hello.serial);
    if (reply.type === ERROR) throw new Error(`Hello: ${reply.errorName}: ${String(reply.body?.[0])}`);
    this.uniqueName = String(reply.body?.[0]);
    return extra.map((e) => e.serial);
  }

  async callBus(member: string, signature?: string, body?: unknown[]): Promise<WireMessage> {
    const reply = await this.call({ ...BUS_CALL, member, signature, body });
    if (reply.type === ERROR) throw new Error(`${member}: ${reply.errorName}: ${String(reply.body?.[0])}`);
    return reply;
  }

  /** A method call; resolves with its reply, a method return or an error. */
  async call(message: Omit<WireMessage, "serial">): Promise<WireMessage> {
    const serial = this.send({ type: METHOD_CALL, ...message });
    return this.next((m) => m.replySerial === serial);
  }

  send(message: Omit<WireMessage, "serial">): number {
    const { bytes, serial } = this.encode(message);
    this.socket.write(bytes);
    return serial;
  }

  /** Raw bytes, however malformed. */
  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Resolves true once the other side closed the connection, false after `ms`. */
  async closedWithin(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        this.wake = () => (clearTimeout(timer), resolve());
      });
    }
    return this.closed;
  }

  private encode(message: Omit<WireMessage, "serial">): { bytes: Buffer; serial: number } {
    const serial = this.serial++;
    return { bytes: marshall({ ...message, serial })[0], serial };
  }

  /**
   * The next message that matches. Others are kept for a later next() (a reply may arrive before
   * the one awaited: the mesh answers a refused call at once), up to a few dozen.
   */
  async next(matches: (message: WireMessage) => boolean): Promise<WireMessage> {
    const kept = this.kept.findIndex(matches);
    if (kept !== -1) return this.kept.splice(kept, 1)[0]!;
    for (;;) {
      const frame = await this.take(() => {
        if (this.buffer.length < 16) return null;
        const le = this.buffer[0] === 0x6c; // 'l'
        const fields = le ? this.buffer.readUInt32LE(12) : this.buffer.readUInt32BE(12);
        const body = le ? this.buffer.readUInt32LE(4) : this.buffer.readUInt32BE(4);
        const size = 16 + Math.ceil(fields / 8) * 8 + body;
        return this.buffer.length >= size ? size : null;
      });
      const message = decode(frame);
      if (matches(message)) return message;
      this.kept = [...this.kept.slice(-31), message];
    }
  }

  close(): void {
    this.socket.destroy();
  }

  /** Waits until `size()` says how many buffered bytes make one unit, and removes them. */
  private async take(size: () => number | null): Promise<Buffer> {
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    for (let n = size(); n === null; n = size()) {
      if (this.closed) throw new Error("the connection was closed");
      if (Date.now() >= deadline) throw new Error(`no answer within ${STEP_TIMEOUT_MS} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        this.wake = () => (clearTimeout(timer), resolve());
      });
    }
    const n = size()!;
    const unit = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return unit;
  }
}

/**
 * One message. dbus-next's unmarshall() reads the body by its signature, which a message without
 * a body (the reply to AddMatch) does not have: its header is read with the same codec instead.
 */
function decode(frame: Buffer): WireMessage {
  const bodyLength = frame[0] === 0x6c ? frame.readUInt32LE(4) : frame.readUInt32BE(4);
  if (bodyLength > 0) return unmarshall(frame);
  const [, type, flags, , , serial, fields] = new DBusBuffer(frame, 0, frame[0]!).read("yyyyuua(yv)") as [number, number, number, number, number, number, [number, [unknown, [unknown]]][]];
  const message: Record<string, unknown> = { type, flags, serial, body: [] };
  for (const [code, [, [value]]] of fields) message[headerTypeName[code] ?? `field${code}`] = value;
  return message as unknown as WireMessage;
}
