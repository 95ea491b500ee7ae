// The Wayland pair as a device runs it, on a real kernel's KMS: the guest of test/drm-kms.test.ts
// (a Debian kernel under qemu, std VGA = the bochs DRM driver) with this host's Weston in it. One
// boot runs every scenario in order (test/kms/guest-wayland.ts): wayland-server's default path
// through the local mesh (Weston's DRM backend on the card0 the mesh injects) with wayland-client
// drawing, drm-master against Weston, SIGTERM to wayland-server, and wayland-server against
// drm-master. This side reads the serial console and checks qemu `screendump`s by colour.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { COLOUR_BARS } from "../containers/drm-master/main";
import { QUADRANTS } from "../containers/wayland-client/pattern";
import { onPath } from "../mesh/process";
import { buildInitramfs, westonMissing } from "./kms/initramfs";
import { fetchKernelOrSkipReason } from "./kms/kernel";
import { barPosition, findWindow, readPpm, type Image } from "./kms/ppm";
import { Qemu } from "./kms/qemu";
import { skipUnless } from "./support/skips";

const REPO = resolve(__dirname, "..");
const CACHE = process.env.PV_KMS_CACHE ?? join(REPO, ".work", "kms");
const BOOT_TIMEOUT_MS = 120_000;
/** From the mesh's start to the client's window on the screen: Weston's desktop shell fades in once its panel is drawn (15 s at most). */
const FIRST_FRAME_TIMEOUT_MS = 90_000;
const RUN_TIMEOUT_MS = 180_000;
const POLL_MS = 250;
/** CI sets PV_REQUIRE_KMS=1: a missing prerequisite is then a failure, not a skip. */
const REQUIRED = process.env.PV_REQUIRE_KMS === "1";
const GROUP = "Wayland on real KMS under qemu";
const NO_STACK = /^\s+at /;

function missingTool(): string | null {
  for (const tool of ["qemu-system-x86_64", "apt-get", "apt-cache", "dpkg-deb", "ldd"]) {
    if (!onPath(tool)) return `${tool} is not installed (apt-get install qemu-system-x86 busybox-static)`;
  }
  if (!existsSync("/bin/busybox")) return "busybox is not installed (apt-get install busybox-static)";
  return westonMissing();
}

/** The lines `<prefix>| ...` between the first line containing `from` and the next containing `to`. */
function linesOf(console: string[], prefix: string, from: string, to: string): string[] {
  const start = console.findIndex((line) => line.includes(from));
  const end = console.findIndex((line, i) => i > start && line.includes(to));
  if (start < 0 || end < 0) return [];
  return console.slice(start + 1, end).filter((line) => line.startsWith(`${prefix}| `)).map((line) => line.slice(prefix.length + 2));
}

/** The value of a `GUEST <name> <value>` line. */
function figure(console: string[], name: string): string | undefined {
  return console.find((line) => line.startsWith(`GUEST ${name} `))?.slice(`GUEST ${name} `.length);
}

/** `GUEST CRTC <label> crtc=N fb=N mode=WxH set-master=ok|ERRNO` as fields. */
function crtc(console: string[], label: string): Record<string, string> {
  return Object.fromEntries((figure(console, `CRTC ${label}`) ?? "").split(" ").map((field) => field.split("=", 2)));
}

describe(GROUP, () => {
  let skip: string | null = missingTool();
  let qemu: Qemu | null = null;
  let workDir = "";
  let guest: string[] = [];
  const screens = new Map<string, Image>();
  /** Host-side: from the guest's MESH-START line to the first screendump showing the client's window. */
  let firstOnScreenMs: number | null = null;

  async function screendump(name: string): Promise<Image> {
    const file = join(workDir, `${name}.ppm`);
    rmSync(file, { force: true });
    const reply = await qemu!.monitor(`screendump ${file} vga`);
    if (!existsSync(file)) throw new Error(`screendump wrote nothing; the monitor said: ${JSON.stringify(reply)}`);
    return readPpm(file);
  }

  beforeAll(async () => {
    if (skip !== null) return;
    workDir = mkdtempSync(join(tmpdir(), "pv-wayland-kms-"));
    mkdirSync(CACHE, { recursive: true });
    const kernel = fetchKernelOrSkipReason(CACHE);
    if (typeof kernel === "string") {
      skip = kernel;
      return;
    }
    const initramfs = await buildInitramfs({ kernel, repo: REPO, workDir, runner: "guest-wayland.ts", weston: true });
    // Two vCPUs: the guest runs the mesh, three containers, Weston and its two helpers at once.
    qemu = new Qemu({ kernel: kernel.vmlinuz, initramfs, workDir, memoryMb: 2048, cpus: 2, accel: process.env.PV_KMS_ACCEL === "kvm" ? "kvm" : "tcg" });
    qemu.start();
    try {
      // The first frame on the screen: screendumps from the mesh's start until the window is whole.
      const start = await qemu.next(/^GUEST MESH-START/, BOOT_TIMEOUT_MS);
      for (;;) {
        const takenAt = Date.now();
        const image = await screendump("first");
        if (findWindow(image, QUADRANTS) !== null) {
          firstOnScreenMs = takenAt - start.at;
          screens.set("first", image);
          break;
        }
        if (Date.now() - start.at > FIRST_FRAME_TIMEOUT_MS) throw new Error(`no screendump showed the client's window within ${FIRST_FRAME_TIMEOUT_MS / 1000} s`);
        await new Promise((wake) => setTimeout(wake, POLL_MS));
      }
      // Then each screendump the guest asks for, until it is done.
      for (let from = start.index; ; ) {
        const { line, index } = await qemu.next(/^GUEST (SCREEN \S+|DONE|ERROR)/, RUN_TIMEOUT_MS, from);
        from = index + 1;
        const name = /^GUEST SCREEN (\S+)/.exec(line)?.[1];
        if (name === undefined) break;
        let image = await screendump(name);
        // The bar sweeps across in 90 frames: a later screendump that caught it where it was is taken again.
        for (let retry = 0; name === "later" && retry < 3 && samebar(image); retry++) {
          await new Promise((wake) => setTimeout(wake, 400));
          image = await screendump(name);
        }
        screens.set(name, image);
        qemu.send(`GO ${name}`);
      }
    } finally {
      guest = [...qemu.lines];
      writeFileSync(join(CACHE, "last-wayland-console.log"), `${guest.join("\n")}\n`); // for a look after a failure
      await qemu.exited(20_000);
    }
    console.log(
      `wayland-kms (TCG): Weston serving ${figure(guest, "T-WESTON-SERVING-MS")} ms after the mesh started its containers, ` +
        `first client commit ${figure(guest, "T-FIRST-COMMIT-MS")} ms, the window whole on the screen ${firstOnScreenMs} ms (host screendumps every ${POLL_MS} ms), ` +
        `SIGTERM to exit ${figure(guest, "SIGTERM-TO-EXIT-MS")} ms`,
    );
  }, BOOT_TIMEOUT_MS + FIRST_FRAME_TIMEOUT_MS + RUN_TIMEOUT_MS + 60_000);

  function samebar(later: Image): boolean {
    const first = screens.get("first")!;
    const [a, b] = [findWindow(first, QUADRANTS), findWindow(later, QUADRANTS)];
    return a !== null && b !== null && barPosition(first, a.band) === barPosition(later, b.band);
  }

  afterAll(() => {
    qemu?.kill();
    if (workDir !== "") rmSync(workDir, { recursive: true, force: true });
  });

  const skipped = (context: { skip: (note?: string) => void }): boolean => {
    if (!skipUnless(skip === null, GROUP, skip ?? "")) return false;
    context.skip(skip ?? "");
    return true;
  };

  test("the prerequisites are here (qemu, apt-get download of a kernel, busybox, weston, a font)", (context) => {
    if (!REQUIRED && skipped(context)) return;
    expect(skip).toBeNull();
    expect(guest.filter((line) => line.startsWith("GUEST ERROR"))).toEqual([]);
    expect(guest).toContain("GUEST DONE");
  });

  test("wayland-server's default path: the mesh injects card0, Weston's DRM backend drives it and serves wayland-0 to the client", (context) => {
    if (skipped(context)) return;
    const server = linesOf(guest, "wayland-server", "GUEST PART 1", "GUEST PART 2").join("\n");
    const mesh = linesOf(guest, "mesh", "GUEST PART 1", "GUEST PART 2").join("\n");
    const client = linesOf(guest, "wayland-client", "GUEST PART 1", "GUEST PART 2").join("\n");
    expect(mesh).toContain("wayland-server: drm-master: device 226:0 injected at /dev/dri/card0");
    expect(mesh).toContain("linked wayland-client:/run/wayland/wayland-0 -> wayland-server:/run/wayland/wayland-0 (wayland-0, wayland, role any)");
    expect(server).toMatch(/wayland-server: socket \S+\/wayland-server\/root\/run\/wayland\/wayland-0, backend drm on \S+\/wayland-server\/root\/dev\/dri\/card0/);
    expect(server).toMatch(/weston: .*Command line: weston --backend=drm-backend\.so .*--use-pixman .*--drm-device=card0 /);
    expect(server).toMatch(/weston: .*using \/dev\/dri\/card0/);
    expect(server).toMatch(/weston: .*Output 'Virtual-1' enabled/);
    expect(server).toMatch(/wayland-server: Weston is serving \S+\/wayland-server\/root\/run\/wayland\/wayland-0/);
    expect(client).toMatch(/SUCCESS: Found Wayland socket at \S+\/wayland-client\/root\/run\/wayland\/wayland-0/);
    expect(client).toMatch(/window \d+x\d+ configured, drawing until stopped/);
    // Weston, not the console, scans out now, and it is DRM master.
    const [before, during] = [crtc(guest, "before"), crtc(guest, "weston")];
    expect(during.fb).not.toBe(before.fb);
    expect(during["set-master"]).toBe("EBUSY");
  });

  test("the screen shows the client's four quadrants and its bar; a later screendump shows the bar moved", (context) => {
    if (skipped(context)) return;
    const [first, later] = [screens.get("first"), screens.get("later")];
    expect(first).toBeDefined();
    expect(later).toBeDefined();
    const [a, b] = [findWindow(first!, QUADRANTS), findWindow(later!, QUADRANTS)];
    expect(a).toMatchObject({ width: 320, height: 240 }); // the client's size: the desktop shell lets it choose
    expect(b).toMatchObject({ width: 320, height: 240 });
    expect(barPosition(later!, b!.band)).not.toBe(barPosition(first!, a!.band));
  });

  test("the client gets a frame callback for every frame it draws: at least 60, none missed", (context) => {
    if (skipped(context)) return;
    const client = linesOf(guest, "wayland-client", "GUEST PART 3", "GUEST EXIT wayland-client-stopped").join("\n");
    const stats = /stopped \(SIGTERM received\): (\d+) frames drawn, (\d+) frame callbacks in/.exec(client);
    expect(stats).not.toBeNull();
    const [drawn, callbacks] = [Number(stats![1]), Number(stats![2])];
    expect(callbacks).toBeGreaterThanOrEqual(60);
    expect(drawn - callbacks - 1).toBe(0); // each drawn frame asked for one; the last one's is still pending at the stop
    expect(guest).toContain("GUEST EXIT wayland-client-stopped code=0 signal=null");
  });

  test("drm-master while Weston holds DRM master: one line saying the card is in use by another DRM master, exit 1, Weston's picture stays", (context) => {
    if (skipped(context)) return;
    const lines = linesOf(guest, "drm-master", "GUEST PART 2", "GUEST EXIT master-contended");
    expect(lines.filter((line) => line.includes("FAILED"))).toEqual([
      expect.stringMatching(/FAILED: \/dev\/dri\/card0 is in use by another DRM master \(set master: EBUSY\): a compositor or another modeset program holds the card; stop it first$/),
    ]);
    expect(lines.filter((line) => NO_STACK.test(line))).toEqual([]);
    expect(guest).toContain("GUEST EXIT master-contended code=1 signal=null");
    const contended = screens.get("contended");
    expect(contended).toBeDefined();
    expect(findWindow(contended!, QUADRANTS)).toMatchObject({ width: 320, height: 240 });
  });

  test("SIGTERM to wayland-server while the client draws: Weston and its helpers exit, exit 0 within 2 s, the client says so in one line, the CRTC is released", (context) => {
    if (skipped(context)) return;
    const running = (figure(guest, "PROCS") ?? "").split(" ").map((entry) => entry.split(":")[0]);
    expect(running.sort()).toEqual(["weston", "weston-desktop-", "weston-keyboard"]); // /proc/PID/stat names are cut at 15 characters
    const server = linesOf(guest, "wayland-server", "GUEST PART 3", "GUEST EXIT wayland-server-sigterm");
    expect(server.join("\n")).toMatch(/wayland-server: SIGTERM received, stopping Weston\n(.*\n)*.*wayland-server: Weston exited with status 0/);
    expect(guest).toContain("GUEST EXIT wayland-server-sigterm code=0 signal=null");
    expect(Number(figure(guest, "SIGTERM-TO-EXIT-MS"))).toBeLessThan(2000);
    expect(figure(guest, "PROCS-AFTER")).toBe("none");
    const client = linesOf(guest, "wayland-client", "GUEST EXIT wayland-client-stopped", "GUEST EXIT wayland-client-after");
    expect(client.filter((line) => line.includes("FAILED"))).toEqual([expect.stringMatching(/FAILED: the compositor closed the connection \((EPIPE|ECONNRESET)\)$/)]);
    expect(client.filter((line) => NO_STACK.test(line))).toEqual([]);
    expect(guest).toContain("GUEST EXIT wayland-client-after code=1 signal=null");
    // Released: the console's framebuffer is back on the CRTC, and a new opener can be DRM master.
    const [before, during, after] = [crtc(guest, "before"), crtc(guest, "weston"), crtc(guest, "after")];
    expect(after.fb).toBe(before.fb);
    expect(after.fb).not.toBe(during.fb);
    expect(after["set-master"]).toBe("ok");
  });

  test("wayland-server while drm-master holds the card: Weston's failure in one line, exit non-zero, the colour bars stay", (context) => {
    if (skipped(context)) return;
    const master = linesOf(guest, "drm-master", "GUEST PART 4", "GUEST EXIT master-holder").join("\n");
    expect(master).toMatch(/modeset OK: connector \d+, mode \d+x\d+@\d+, CRTC \d+, fb \d+/);
    const server = linesOf(guest, "wayland-server", "GUEST PART 4", "GUEST EXIT wayland-server-contended");
    expect(server.filter((line) => line.includes("FAILED"))).toEqual([
      expect.stringMatching(/FAILED: weston failed to start \(exited with status 1\): \S+\/dev\/dri\/card0 is in use by another DRM master \(.*\) \[weston: "drm fd not master"\]$/),
    ]);
    expect(server.filter((line) => NO_STACK.test(line))).toEqual([]);
    expect(figure(guest, "EXIT wayland-server-contended")).toMatch(/^code=[1-9]\d* signal=null$/);
    const bars = screens.get("bars");
    expect(bars).toBeDefined();
    const seen = COLOUR_BARS.map((_, i) => bars!.pixel(Math.floor(((i + 0.5) * bars!.width) / COLOUR_BARS.length), Math.floor(bars!.height / 2)));
    expect(seen.map((c) => c.toString(16).padStart(6, "0"))).toEqual(COLOUR_BARS.map((c) => c.toString(16).padStart(6, "0")));
    expect(master).toMatch(/restored CRTC (\d+): reads back fb (\d+) \(saved fb \2\)/);
    expect(guest).toContain("GUEST EXIT master-holder code=0 signal=null");
  });
});
