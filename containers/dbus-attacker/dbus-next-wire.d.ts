// Types for dbus-next's internal wire codec (lib/message.js of the pinned 0.10.2), which
// dbus-attacker uses to speak D-Bus on a socket it authenticated by hand: dbus-next's public API
// always runs its own SASL exchange.
declare module "dbus-next/lib/message" {
  export interface WireMessage {
    type?: number;
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
    body?: unknown[];
  }
  /** Encodes one message (basic-type bodies only need no conversion); returns [bytes, fds]. */
  export function marshall(message: WireMessage): [Buffer, number[]];
  /** Decodes one complete message. */
  export function unmarshall(buffer: Buffer): WireMessage;
}
