// The DRM programs against a real kernel's KMS: a Debian kernel booted under qemu with std VGA
// (the bochs DRM driver: a real card0, no render node) and, loaded later, virtio-gpu (a render
// node). The guest runner (kms/guest.ts) runs the bundles from dist/; this test reads the serial
// console and takes a `screendump` while drm-master holds its picture.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { COLOUR_BARS } from "../containers/drm-master/main";
import { fetchKernelOrSkipReason } from "./kms/kernel";
import { buildInitramfs } from "./kms/initramfs";
import { readPpm } from "./kms/ppm";
import { Qemu } from "./kms/qemu";
import { onPath } from "../mesh/process";
import { skipUnless } from "./support/skips";

const REPO = resolve(__dirname, "..");
const CACHE = process.env.PV_KMS_CACHE ?? join(REPO, ".work", "kms");
const BOOT_TIMEOUT_MS = 90_000;
const RUN_TIMEOUT_MS = 60_000;
/** CI sets PV_REQUIRE_KMS=1: a missing prerequisite is then a failure, not a skip. */
const REQUIRED = process.env.PV_REQUIRE_KMS === "1";

function missingTool(): string | null {
  for (const tool of ["qemu-system-x86_64", "apt-get", "apt-cache", "dpkg-deb", "ldd"]) {
    if (!onPath(tool)) return `${tool} is not installed (apt-get install qemu-system-x86 busybox-static)`;
  }
  return null;
}

/** `<program>| <line>` lines the guest relayed, from the Nth start of that program on. */
function programLines(console: string[], program: string, fromMarker: string, toMarker: string): string[] {
  const from = console.findIndex((line) => line.includes(fromMarker));
  const to = console.findIndex((line, i) => i > from && line.includes(toMarker));
  return console.slice(from + 1, to).filter((l) => l.startsWith(`${program}| `)).map((l) => l.slice(program.length + 2));
}

describe("DRM programs on a real kernel's KMS (qemu)", () => {
  let skip: string | null = missingTool();
  let qemu: Qemu | null = null;
  let workDir = "";
  let screen: ReturnType<typeof readPpm> | null = null;
  let guest: string[] = [];

  beforeAll(async () => {
    if (skip === null && !existsSync("/bin/busybox")) skip = "busybox is not installed (apt-get install busybox-static)";
    if (skip !== null) return;
    workDir = mkdtempSync(join(tmpdir(), "pv-kms-"));
    mkdirSync(CACHE, { recursive: true });
    const kernel = fetchKernelOrSkipReason(CACHE);
    if (typeof kernel === "string") {
      skip = kernel;
      return;
    }
    const initramfs = await buildInitramfs({ kernel, repo: REPO, workDir });
    qemu = new Qemu({ kernel: kernel.vmlinuz, initramfs, workDir, accel: process.env.PV_KMS_ACCEL === "kvm" ? "kvm" : "tcg" });
    qemu.start();
    try {
      await qemu.waitFor(/^GUEST READY-FOR-SCREENDUMP/, BOOT_TIMEOUT_MS);
      const shot = join(workDir, "screen.ppm");
      const reply = await qemu.monitor(`screendump ${shot} vga`);
      if (!existsSync(shot)) throw new Error(`screendump wrote nothing; the monitor said: ${JSON.stringify(reply)}`);
      screen = readPpm(shot);
      qemu.send("GO");
      await qemu.waitFor(/^GUEST (DONE|ERROR)/, RUN_TIMEOUT_MS);
    } finally {
      guest = [...qemu.lines];
      writeFileSync(join(CACHE, "last-console.log"), `${guest.join("\n")}\n`); // for a look after a failure
      await qemu.exited(10_000);
    }
  }, BOOT_TIMEOUT_MS + RUN_TIMEOUT_MS + 60_000);

  test("the prerequisites are here (qemu, apt-get download of a kernel, busybox)", (context) => {
    if (!REQUIRED && skipUnless(skip === null, "real KMS under qemu", skip ?? "")) return context.skip(skip ?? "");
    expect(skip).toBeNull();
  });

  afterAll(() => {
    qemu?.kill();
    if (workDir !== "") rmSync(workDir, { recursive: true, force: true });
  });

  test("drm-render fails with one FAILED line and exit 1 when the card has no render node", (context) => {
    if (skipUnless(skip === null, "real KMS under qemu", skip ?? "")) return context.skip(skip ?? "");
    expect(guest.find((l) => l.startsWith("GUEST DRI "))).toBe("GUEST DRI card0");
    const lines = programLines(guest, "drm-render", "GUEST DRI card0", "GUEST EXIT render-without-node");
    expect(lines.filter((l) => / waiting up to 0.4 s for DRM render node at \/dev\/dri\/renderD128: not there yet/.test(l))).toHaveLength(1);
    expect(lines.filter((l) => l.includes("FAILED"))).toEqual([expect.stringMatching(/FAILED: DRM render node \/dev\/dri\/renderD128 did not appear within 0.4 s \(--wait\)$/)]);
    expect(guest).toContain("GUEST EXIT render-without-node code=1 signal=null");
  });

  test("drm-master sets the preferred mode, reads its fb back, restores the saved CRTC after --hold", (context) => {
    if (skipUnless(skip === null, "real KMS under qemu", skip ?? "")) return context.skip(skip ?? "");
    const lines = programLines(guest, "drm-master", "GUEST EXIT render-without-node", "GUEST EXIT master-timed").join("\n");
    expect(lines).toMatch(/opened \/dev\/dri\/card0: driver bochs-drm /);
    expect(lines).toMatch(/Connectors: 1, Encoders: 1, CRTCs: 1/);
    expect(lines).toMatch(/using \d+x\d+@\d+ \(preferred\)/);
    const set = /modeset OK: connector (\d+), mode (\d+x\d+@\d+), CRTC (\d+), fb (\d+) \(saved fb (\d+)\)/.exec(lines);
    expect(set).not.toBeNull();
    const [, , , crtc, fb, saved] = set!;
    expect(fb).not.toBe(saved);
    expect(lines).toContain(`CRTC ${crtc} reads back fb ${fb} (ours: fb ${fb})`);
    expect(lines).toContain(`restored CRTC ${crtc}: reads back fb ${saved} (saved fb ${saved})`);
    expect(lines).toContain("hold time over, restoring");
    expect(guest).toContain("GUEST EXIT master-timed code=0 signal=null");
  });

  test("while drm-master holds a requested 800x600 mode, the screen shows its colour bars", (context) => {
    if (skipUnless(skip === null, "real KMS under qemu", skip ?? "")) return context.skip(skip ?? "");
    const lines = programLines(guest, "drm-master", "GUEST EXIT master-timed", "GUEST EXIT master-sigterm").join("\n");
    expect(lines).toMatch(/using 800x600@\d+ \(requested\)/);
    expect(lines).toMatch(/modeset OK: connector \d+, mode 800x600@\d+/);
    expect(screen).not.toBeNull();
    expect([screen!.width, screen!.height]).toEqual([800, 600]);
    const seen = COLOUR_BARS.map((_, i) => screen!.pixel(Math.floor(((i + 0.5) * 800) / COLOUR_BARS.length), 300));
    expect(seen.map((c) => c.toString(16).padStart(6, "0"))).toEqual(COLOUR_BARS.map((c) => c.toString(16).padStart(6, "0")));
  });

  test("SIGTERM during the hold restores the CRTC and exits 0 within 1 s", (context) => {
    if (skipUnless(skip === null, "real KMS under qemu", skip ?? "")) return context.skip(skip ?? "");
    const lines = programLines(guest, "drm-master", "GUEST EXIT master-timed", "GUEST EXIT master-sigterm").join("\n");
    const set = /modeset OK: connector \d+, mode \S+, CRTC (\d+), fb (\d+) \(saved fb (\d+)\)/.exec(lines);
    expect(set).not.toBeNull();
    const [, crtc, , saved] = set!;
    expect(guest).toContain("GUEST HOST-GO true");
    expect(lines).toContain("SIGTERM received, restoring");
    expect(lines).toContain(`restored CRTC ${crtc}: reads back fb ${saved} (saved fb ${saved})`);
    expect(guest).toContain("GUEST EXIT master-sigterm code=0 signal=null");
    const ms = Number(/^GUEST SIGTERM-TO-EXIT-MS (\d+)/.exec(guest.find((l) => l.startsWith("GUEST SIGTERM-TO-EXIT-MS")) ?? "")?.[1]);
    expect(ms).toBeLessThan(1000);
  });

  test("through the local mesh, drm-master modesets on the drm injector's copy of card0", (context) => {
    if (skipUnless(skip === null, "real KMS under qemu", skip ?? "")) return context.skip(skip ?? "");
    const mesh = guest.filter((l) => l.startsWith("mesh:") || l.startsWith("GUEST MESH")).join("\n");
    expect(mesh).toMatch(/mesh:mesh\| drm-master: drm-master: device 226:0 injected at \/dev\/dri\/card0/);
    expect(mesh).toMatch(/mesh:drm-master\| .*opened \/tmp\/\S+\/drm-master\/root\/dev\/dri\/card0: driver bochs-drm /);
    expect(mesh).toMatch(/mesh:drm-master\| .*modeset OK: connector \d+, mode \d+x\d+@\d+, CRTC \d+, fb \d+/);
    expect(mesh).toMatch(/mesh:drm-master\| .*restored CRTC \d+: reads back fb (\d+) \(saved fb \1\)/);
    expect(mesh).toContain("GUEST MESH EXIT drm-master code=0 signal=null");
  });

  test("with a render node, drm-provider names both drivers and drm-render succeeds", (context) => {
    if (skipUnless(skip === null, "real KMS under qemu", skip ?? "")) return context.skip(skip ?? "");
    expect(guest).toContain("GUEST DRI card0 card1 renderD128");
    const provider = programLines(guest, "drm-provider", "GUEST DRI card0 card1", "GUEST EXIT provider").join("\n");
    expect(provider).toMatch(/drm-master: \/dev\/dri\/card0: bochs-drm \d+\.\d+\.\d+/);
    expect(provider).toMatch(/drm-render: \/dev\/dri\/renderD128: virtio_gpu \d+\.\d+\.\d+/);
    expect(guest).toContain("GUEST EXIT provider code=0 signal=null");
    const render = programLines(guest, "drm-render", "GUEST EXIT provider", "GUEST EXIT render-with-node").join("\n");
    expect(render).toContain("DRM Render (user) success!");
    expect(render).toMatch(/driver: virtio_gpu \d+\.\d+\.\d+/);
    expect(guest).toContain("GUEST EXIT render-with-node code=0 signal=null");
  });
});
