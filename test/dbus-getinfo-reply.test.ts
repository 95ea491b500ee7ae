// dbus-server writes GetInfo's reply on the wire itself (getInfoReply) instead of letting dbus-next
// marshal a Message for every call. This keeps that shortcut honest: the bytes are exactly what
// dbus-next would have sent, whatever the length of the caller's name (which moves the padding),
// and a second, independent implementation (libdbus, through dbus-send) reads the reply from the
// real server behind a real dbus-daemon.
import { execFile } from "node:child_process";
import { cpSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { promisify } from "node:util";
import { Message } from "dbus-next";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getInfoReply, INFO } from "../containers/dbus-server/main";
import { onPath } from "../mesh/process";
import { REPO, run, stopAll, tempDir } from "./support/bundles";
import { BUS_NAME, daemonPids, OBJECT_PATH } from "./support/dbus";
import { skipUnless } from "./support/skips";

// dbus-next's own marshaller, the one bus.send() uses (not part of its public API, hence the require).
const { marshallMessage } = createRequire(__filename)("dbus-next/lib/marshall-compat") as {
  marshallMessage(message: Message): [Buffer, unknown[]];
};

const METHOD_RETURN = 2;

describe("GetInfo's hand-written reply", () => {
  it("is byte for byte what dbus-next marshals, for caller names of every length", () => {
    for (let length = 1; length <= 24; length++) {
      const destination = `:1.${"7".repeat(length)}`;
      const serial = 1000 + length;
      const replySerial = 70_000 + length;
      // Reason for the cast: dbus-next's types declare replySerial a string; it is a u32 on the wire and in its code.
      const expected = new Message({ type: METHOD_RETURN, serial, replySerial: replySerial as unknown as string, destination, signature: "s", body: [INFO] });
      expect(getInfoReply(serial, replySerial, destination).equals(marshallMessage(expected)[0]), destination).toBe(true);
    }
  });
});

const AS_ROOT = process.getuid?.() === 0;
const canRun = AS_ROOT && onPath("dbus-daemon") && onPath("dbus-send");
const GROUP = "GetInfo's reply read by libdbus";
const WHY = !AS_ROOT ? "needs root (the seed's policy lets only root own org.pantavisor.Example)" : "dbus-daemon or dbus-send missing (apt-get install dbus dbus-bin)";

describe.skipIf(skipUnless(canRun, GROUP, WHY))(GROUP, () => {
  const root = tempDir("pv-dbus-reply-");
  const socketPath = join(root.path, "run/dbus/system_bus_socket");

  beforeAll(async () => {
    cpSync(join(REPO, "containers", "dbus-server", "rootfs"), root.path, { recursive: true });
    await run("dbus-server", { env: { PV_ROOT: root.path } }).waitForOutput(/serves GetInfo/);
  });
  afterAll(async () => {
    await stopAll();
    for (const pid of daemonPids(socketPath)) process.kill(pid, "SIGKILL");
    root.remove();
  });

  it("dbus-send prints the seed's string, call after call", async () => {
    const args = [`--bus=unix:path=${socketPath}`, "--print-reply=literal", `--dest=${BUS_NAME}`, OBJECT_PATH, `${BUS_NAME}.GetInfo`];
    for (let call = 0; call < 3; call++) {
      const { stdout } = await promisify(execFile)("dbus-send", args);
      expect(stdout.trim()).toBe(INFO);
    }
  });
});
