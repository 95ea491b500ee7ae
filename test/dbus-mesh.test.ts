// The D-Bus example through the local mesh, under both profiles: dbus-server's own dbus-daemon,
// dbus-client (role root), dbus-client-nobody (role nobody) and dbus-attacker (role nobody).
// documented: every role really authenticates as its uid and the seed's policy decides.
// master: pv-xconnect master's SASL rewrite, with its weaknesses (README.md, "Profiles").
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMesh, type Mesh } from "../mesh/xconnect";
import type { Profile } from "../mesh/types/link";
import { skipUnless } from "./support/skips";

const REPLY = /^\S+ {4}string "\{"service": "dbus-example", "status": "active"\}"$/;
const CONTAINERS = [
  { name: "dbus-server" },
  { name: "dbus-client", args: ["--interval", "0.5", "--role", "root"] },
  { name: "dbus-client-nobody", args: ["--interval", "0.5", "--role", "nobody"] },
  { name: "dbus-attacker", args: ["--role", "nobody"] },
];
// Both profiles need root: the server owns its name as root (the seed's policy), and documented
// connects as the role's uid (65534), which only root may do.
const AS_ROOT = process.getuid?.() === 0;
const SKIP_REASON = "needs root (connecting as the role's uid, and the seed's policy lets only root own the name)";

/** The lines a client printed for its latest successful request: the reply line and the uid line. */
async function nextReply(mesh: Mesh, name: string): Promise<{ reply: string; uid: string }> {
  const from = mesh.mark(name);
  await mesh.waitForOutput(name, /--- Requesting info from D-Bus service org\.pantavisor\.Example ---/, 10_000, from);
  const reply = await mesh.waitForOutput(name, /string "/, 10_000, from);
  const uid = await mesh.waitForOutput(name, /the bus authenticated this connection as uid/, 10_000, from);
  return { reply, uid };
}

describe.skipIf(skipUnless(AS_ROOT, "D-Bus through the mesh", SKIP_REASON)).each<Profile>(["documented", "master"])("D-Bus through the mesh, profile %s", (profile) => {
  let mesh: Mesh;
  beforeAll(async () => {
    mesh = await startMesh({ containers: CONTAINERS, profile, lingerMs: 1000 });
    await mesh.waitForOutput("dbus-server", /serves GetInfo/);
  });
  afterAll(() => mesh?.close());

  it("dbus-client (role root) gets the seed's exact reply, as uid 0", async () => {
    const { reply, uid } = await nextReply(mesh, "dbus-client");
    expect(reply).toMatch(REPLY);
    expect(uid).toMatch(/as uid 0, role root\)$/);
    expect(mesh.output("dbus-client")).toMatch(/method return time=\d+\.\d+ sender=:1\.\d+ -> destination=:1\.\d+ serial=\d+ reply_serial=2/);
  });

  if (profile === "documented") {
    it("dbus-client-nobody is authenticated as uid 65534 and the default-context rule lets it call", async () => {
      const { reply, uid } = await nextReply(mesh, "dbus-client-nobody");
      expect(reply).toMatch(REPLY);
      expect(uid).toMatch(/as uid 65534, role nobody\)$/);
    });

    it("dbus-attacker: every attempt refused, exit 0", async () => {
      expect(await mesh.exited("dbus-attacker")).toEqual({ code: 0, signal: null });
      const output = mesh.output("dbus-attacker");
      expect(output).toMatch(/refused {4}\(a\) own org\.pantavisor\.Example: org\.freedesktop\.DBus\.Error\.AccessDenied: /);
      expect(output).toMatch(/refused {4}\(b\) re-authenticate as uid 0: .*after claiming uid 0 the bus sees uid 65534$/m);
      expect(output).toMatch(/refused {4}\(c\) forged sender: sent with sender org\.pantavisor\.Example, delivered with sender :1\.\d+$/m);
      expect(output).toMatch(/summary: all 3 attempts refused for role nobody/);
      expect(output).not.toMatch(/VULNERABLE/);
    });

    it("the policy is really applied: a variant that denies nobody makes its calls fail with AccessDenied", async () => {
      const deny = `<busconfig>\n  <policy user="nobody">\n    <deny send_destination="org.pantavisor.Example"/>\n  </policy>\n</busconfig>\n`;
      writeFileSync(join(mesh.rootOf("dbus-server"), "etc/dbus-1/system.d/zz-deny-nobody.conf"), deny);
      const from = mesh.mark("dbus-server");
      await mesh.restart("dbus-server");
      await mesh.waitForOutput("dbus-server", /serves GetInfo/, 10_000, from);
      const line = await mesh.waitForOutput("dbus-client-nobody", /access denied by the bus policy for role nobody: /, 15_000, mesh.mark("dbus-client-nobody"));
      expect(line).toMatch(/retrying in 0\.5 s$/);
      expect((await nextReply(mesh, "dbus-client")).reply).toMatch(REPLY); // root is still allowed
      expect(mesh.pid("dbus-client-nobody")).toBeGreaterThan(0);
    });
  } else {
    it("dbus-client-nobody: one clear line naming the role, and it keeps running", async () => {
      const rejected = /^\S+ authentication rejected by the bus for role nobody, retrying in 0\.5 s$/;
      await mesh.waitForOutput("dbus-client-nobody", rejected);
      // ... and again on the next tick: it neither hung nor exited.
      await mesh.waitForOutput("dbus-client-nobody", rejected, 10_000, mesh.mark("dbus-client-nobody"));
      expect(mesh.pid("dbus-client-nobody")).toBeGreaterThan(0);
      expect(mesh.output("dbus-client-nobody")).not.toMatch(/string "|^\s+at /m);
    });

    it("dbus-attacker: name theft refused, re-authentication as root reported VULNERABLE, exit 1", async () => {
      expect(await mesh.exited("dbus-attacker")).toEqual({ code: 1, signal: null });
      const output = mesh.output("dbus-attacker");
      expect(output).toMatch(/refused {4}\(a\) own org\.pantavisor\.Example: authentication rejected by the bus/);
      expect(output).toMatch(/VULNERABLE \(b\) re-authenticate as uid 0: first authentication rejected \(REJECTED EXTERNAL\); after claiming uid 0 the bus sees uid 0$/m);
      expect(output).toMatch(/refused {4}\(c\) forged sender: /);
      expect(output).toMatch(/VULNERABLE: \(b\) re-authenticate as uid 0 \(role nobody\)$/m);
    });
  }
});
