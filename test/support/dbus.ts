// What the D-Bus tests share: a client connection to a bus socket, a call to the example service,
// and finding the dbus-daemon behind a socket (to show it is stopped with its server).
import { readdirSync, readFileSync } from "node:fs";
import { Message, type MessageBus, sessionBus } from "dbus-next";

export const BUS_NAME = "org.pantavisor.Example";
export const OBJECT_PATH = "/org/pantavisor/Example";
export const INFO = '{"service": "dbus-example", "status": "active"}';

/** Connects to the bus at `socketPath` (SASL EXTERNAL only, so a rejected login is an error, not a hang). */
export function connectBus(socketPath: string): Promise<MessageBus> {
  const bus = sessionBus({ busAddress: `unix:path=${socketPath}`, authMethods: ["EXTERNAL"] });
  return new Promise((resolve, reject) => {
    bus.once("connect", () => resolve(bus));
    bus.once("error", reject);
  });
}

/** Calls `member` on the example object (interface org.pantavisor.Example unless told otherwise). */
export function callExample(bus: MessageBus, member: string, signature = "", body: unknown[] = [], iface = BUS_NAME): Promise<Message | null> {
  return bus.call(new Message({ destination: BUS_NAME, path: OBJECT_PATH, interface: iface, member, signature, body }));
}

/** Pids of the dbus-daemon serving `socketPath`, found by its command line. */
export function daemonPids(socketPath: string): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
        return argv[0]?.endsWith("dbus-daemon") && argv.includes(`--address=unix:path=${socketPath}`);
      } catch {
        return false; // the process ended while we looked
      }
    })
    .map(Number);
}
