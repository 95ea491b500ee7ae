// Readiness for a D-Bus provider: not "the socket exists" but "the name is owned", the moment a
// client's call can succeed.
import { performance } from "node:perf_hooks";
import { Message, sessionBus, type MessageBus } from "dbus-next";
import { sleep, tail, waitConnectable, type Proc } from "./processes";

export const BUS_NAME = "org.pantavisor.Example";

function nameHasOwner(bus: MessageBus, name: string): Promise<boolean> {
  const call = new Message({
    destination: "org.freedesktop.DBus",
    path: "/org/freedesktop/DBus",
    interface: "org.freedesktop.DBus",
    member: "NameHasOwner",
    signature: "s",
    body: [name],
  });
  return bus.call(call).then((reply) => reply?.body[0] === true);
}

/** Resolves with performance.now() once `name` has an owner on the bus at `socket`. */
export async function waitNameOwned(socket: string, proc: Proc, timeoutMs: number, name = BUS_NAME): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  await waitConnectable(socket, proc, timeoutMs);
  const bus = sessionBus({ busAddress: `unix:path=${socket}`, authMethods: ["EXTERNAL"] });
  try {
    while (performance.now() < deadline) {
      if (await nameHasOwner(bus, name)) return performance.now();
      if (!proc.running) throw new Error(`${proc.name} exited before owning ${name}${tail(proc.output())}`);
      await sleep(2);
    }
    throw new Error(`${proc.name}: ${name} not owned within ${timeoutMs} ms${tail(proc.output())}`);
  } finally {
    bus.disconnect();
    // Reason for the cast: dbus-next's disconnect() half-closes; the stream is not in its types.
    (bus as unknown as { _connection: { stream: { destroy(): void } } })._connection.stream.destroy();
  }
}
