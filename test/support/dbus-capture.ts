// Real D-Bus traffic for the mesh's parser and fuzz tests: a private dbus-daemon (any user may run
// it: its own permissive config), a small dbus-next service on it, and one dbus-next client whose
// connection goes through a recording relay, so the bytes both ways are what a real session sends.
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { interface as dbusInterface, Message, type MessageBus, sessionBus } from "dbus-next";

export const TEST_NAME = "org.pantavisor.Test";
export const TEST_PATH = "/org/pantavisor/Test";

class TestInterface extends dbusInterface.Interface {
  Echo(text: string): string {
    return text;
  }
  Add(a: number, b: number): number {
    return a + b;
  }
  Changed(text: string): string {
    return text;
  }
}
TestInterface.configureMembers({
  methods: { Echo: { inSignature: "s", outSignature: "s" }, Add: { inSignature: "ii", outSignature: "i" } },
  signals: { Changed: { signature: "s" } },
});

export interface PrivateBus {
  socket: string;
  stop(): Promise<void>;
}

/** A dbus-daemon of our own on `dir`/bus, open to every user, with no service on it yet. */
export async function startPrivateBus(dir: string): Promise<PrivateBus> {
  const socket = join(dir, "bus");
  const config = join(dir, "bus.conf");
  writeFileSync(
    config,
    `<busconfig><type>session</type><listen>unix:path=${socket}</listen><auth>EXTERNAL</auth>
       <policy context="default"><allow user="*"/><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy></busconfig>\n`,
  );
  const daemon: ChildProcess = spawn("dbus-daemon", [`--config-file=${config}`, "--nofork", "--nopidfile", "--print-address"], { stdio: ["ignore", "pipe", "ignore"] });
  await new Promise<void>((resolve, reject) => {
    daemon.once("error", reject);
    daemon.stdout!.once("data", () => resolve());
  });
  return {
    socket,
    stop: () =>
      new Promise<void>((resolve) => {
        if (daemon.exitCode !== null) return resolve();
        daemon.once("exit", () => resolve());
        daemon.kill("SIGTERM");
      }),
  };
}

export function connectBus(socket: string): Promise<MessageBus> {
  const bus = sessionBus({ busAddress: `unix:path=${socket}`, authMethods: ["EXTERNAL"] });
  return new Promise((resolve, reject) => {
    bus.once("connect", () => resolve(bus));
    bus.once("error", reject);
  });
}

/** dbus-next's disconnect() only half-closes its socket. */
export function closeBus(bus: MessageBus): void {
  bus.disconnect();
  // Reason for the cast: the socket is not part of dbus-next's typed API.
  (bus as unknown as { _connection: { stream: { destroy(): void } } })._connection.stream.destroy();
}

export interface Capture {
  /** The client's SASL lines, up to and including BEGIN. */
  sasl: Buffer;
  /** The client's messages after BEGIN, as sent. */
  fromClient: Buffer;
  /** The bus's messages to the client, after its SASL answers. */
  fromBus: Buffer;
}

/** A relay on `path` to `target` that records one connection's bytes. */
function recordingRelay(path: string, target: string): Promise<{ server: Server; recorded: Promise<Capture> }> {
  return new Promise((resolve) => {
    let done: (capture: Capture) => void = () => {};
    const recorded = new Promise<Capture>((r) => (done = r));
    const server = createServer((client: Socket) => {
      const bus = connect(target);
      const fromClient: Buffer[] = [];
      const fromBus: Buffer[] = [];
      client.on("data", (chunk: Buffer) => (fromClient.push(chunk), bus.write(chunk)));
      bus.on("data", (chunk: Buffer) => (fromBus.push(chunk), client.write(chunk)));
      const finish = (): void => {
        bus.destroy();
        client.destroy();
        const clientBytes = Buffer.concat(fromClient);
        const busBytes = Buffer.concat(fromBus);
        const begin = clientBytes.indexOf("BEGIN\r\n") + "BEGIN\r\n".length;
        const ok = busBytes.indexOf("\r\n", busBytes.indexOf("OK ")) + 2;
        done({ sasl: clientBytes.subarray(0, begin), fromClient: clientBytes.subarray(begin), fromBus: busBytes.subarray(ok) });
      };
      client.on("close", finish);
      bus.on("close", finish);
    });
    server.listen(path, () => resolve({ server, recorded }));
  });
}

/**
 * One recorded client session on `busSocket`: Hello, introspection, calls with replies and an
 * error, ListNames, GetNameOwner, AddMatch and a signal from the service, RequestName with its
 * NameAcquired. A service owning TEST_NAME runs beside it for the duration.
 */
export async function captureSession(busSocket: string, dir: string): Promise<Capture> {
  const service = await connectBus(busSocket);
  const exported = new TestInterface(TEST_NAME);
  service.export(TEST_PATH, exported);
  await service.requestName(TEST_NAME, 0);
  const { server, recorded } = await recordingRelay(join(dir, "relay"), busSocket);
  const client = await connectBus(join(dir, "relay"));
  try {
    const proxy = await client.getProxyObject(TEST_NAME, TEST_PATH);
    const test = proxy.getInterface(TEST_NAME);
    const changed = new Promise<void>((resolve) => test.once("Changed", () => resolve()));
    await test.Echo!("héllo wörld, a string that is not ASCII");
    await test.Add!(2, 40);
    await client.call(new Message({ destination: TEST_NAME, path: TEST_PATH, interface: TEST_NAME, member: "Nope" })).catch(() => undefined);
    const driver = { destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus" };
    await client.call(new Message({ ...driver, member: "ListNames" }));
    await client.call(new Message({ ...driver, member: "GetNameOwner", signature: "s", body: [TEST_NAME] }));
    (exported as unknown as { Changed(text: string): void }).Changed("it changed");
    await changed;
    await client.requestName(`${TEST_NAME}.Client`, 0);
    await client.call(new Message({ ...driver, member: "Ping", interface: "org.freedesktop.DBus.Peer" }));
  } finally {
    closeBus(client);
    closeBus(service);
  }
  const capture = await recorded;
  server.close();
  return capture;
}
