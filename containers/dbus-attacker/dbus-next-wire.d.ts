// Types for dbus-next's internal wire codec (lib/message.js, lib/dbus-buffer.js and
// lib/constants.js of the pinned 0.10.2), which
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
declare module "dbus-next/lib/dbus-buffer" {
  /** A reader of D-Bus values from `buffer` (endian: the message's first byte). */
  export default class DBusBuffer {
    constructor(buffer: Buffer, startPos: number, endian: number);
    read(signature: string): unknown[];
  }
}
declare module "dbus-next/lib/constants" {
  /** Header field names by code (index 1: "path" ... 9: "unixFd"). */
  export const headerTypeName: (string | null)[];
}
