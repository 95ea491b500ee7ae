// Runs inside the qemu guest for test/wayland-kms.test.ts (bundled to /guest.js by initramfs.ts
// with Weston, started by /init): Wayland as a device runs it, on the bochs card0, in one boot:
//   1. the local mesh: drm-provider exports card0, the mesh copies it into wayland-server's root,
//      wayland-server starts Weston's DRM backend on it (its default path: no --backend), and
//      wayland-client draws through the wayland injector. The host takes screendumps meanwhile;
//   2. drm-master started while Weston holds DRM master: it must fail, Weston's picture stays;
//   3. the client stopped (its frame statistics) and started again, then SIGTERM to wayland-server
//      while it draws: Weston and its helpers exit, the client says the compositor went away,
//      the CRTC is released;
//   4. drm-master holds the card, then wayland-server starts: Weston fails, the colour bars stay.
// Lines (guest-lines.ts): "<container>| ..." from each program, "GUEST PART <n>" between the
// parts, "GUEST ..." results. "GUEST SCREEN <name>" asks the host for a screendump; it answers
// "GO <name>" once taken.
import { readdirSync, readFileSync } from "node:fs";
import { drm } from "../../native/libdrm/index";
import { startMesh, type Mesh } from "../../mesh/xconnect";
import { askHost, finished, run, say } from "./guest-lines";

const CARD = "/dev/dri/card0";
const STEP_TIMEOUT_MS = 90_000;
const SCREEN_TIMEOUT_MS = 120_000;

/** Resolves with `promise`, or rejects saying what did not happen within `ms`. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms / 1000} s`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

async function screen(name: string): Promise<void> {
  if (!(await askHost(`SCREEN ${name}`, `GO ${name}`, SCREEN_TIMEOUT_MS))) say(`ERROR the host took no screendump "${name}"`);
}

/**
 * What card0's CRTC scans out now, and whether this root process could become DRM master ("ok": no
 * one else is). The binding is drm-master's (initramfs.ts puts its drm.node beside this bundle).
 */
function readCrtc(label: string): void {
  const binding = drm();
  const fd = binding.open(CARD);
  try {
    const crtcId = binding.getResources(fd).crtcs[0];
    const crtc = binding.getCrtc(fd, crtcId);
    let setMaster = "ok";
    try {
      binding.setMaster(fd);
      binding.dropMaster(fd);
    } catch (error) {
      setMaster = (error as NodeJS.ErrnoException).code ?? String(error);
    }
    say(`CRTC ${label} crtc=${crtcId} fb=${crtc.fbId} mode=${crtc.mode === null ? "none" : `${crtc.mode.hdisplay}x${crtc.mode.vdisplay}`} set-master=${setMaster}`);
  } finally {
    binding.close(fd);
  }
}

/** Running processes whose name starts with "weston" (Weston and the helper clients it launched). */
function westonProcesses(): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const name = /\((.*)\) (\S)/.exec(stat);
      if (name !== null && name[1].startsWith("weston") && name[2] !== "Z") found.push(`${name[1]}:${pid}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function meshWith(containers: Parameters<typeof startMesh>[0]["containers"]): Promise<Mesh> {
  return startMesh({
    repoRoot: "/repo",
    profile: "documented",
    containers,
    onLine: (container, line) => process.stdout.write(`${container}| ${line}\n`),
  });
}

async function main(): Promise<void> {
  say(`DRI ${readdirSync("/dev/dri").join(" ")}`);
  readCrtc("before");

  // 1. The default path through the mesh; the host polls screendumps from MESH-START on.
  say("PART 1 mesh");
  const started = performance.now();
  const since = (): number => Math.round(performance.now() - started);
  say("MESH-START");
  const mesh = await meshWith([
    { name: "drm-provider", devices: [CARD] }, // the provider's own node, as its mdev rules give it on a device
    { name: "wayland-server" },
    { name: "wayland-client", args: ["--report", "60"] },
  ]);
  try {
    await within(STEP_TIMEOUT_MS, "Weston serving", mesh.waitForOutput("wayland-server", /Weston is serving/, STEP_TIMEOUT_MS));
    say(`T-WESTON-SERVING-MS ${since()}`);
    await within(STEP_TIMEOUT_MS, "the client's window", mesh.waitForOutput("wayland-client", /window \d+x\d+ configured/, STEP_TIMEOUT_MS));
    say(`T-FIRST-COMMIT-MS ${since()}`);
    await screen("window"); // the host has seen the window by then (it polls from MESH-START)
    await within(STEP_TIMEOUT_MS, "60 frames", mesh.waitForOutput("wayland-client", /frame 60$/, STEP_TIMEOUT_MS));
    say(`T-FRAME-60-MS ${since()}`);
    readCrtc("weston");
    await screen("later");

    // 2. drm-master on the card Weston holds.
    say("PART 2 drm-master while Weston holds the card");
    await finished("master-contended", run("drm-master", ["--hold", "1", "--wait", "5"]));
    await screen("contended");

    // 3. The client's statistics, a new client, then SIGTERM to wayland-server while it draws.
    say("PART 3 stopping");
    say(`EXIT wayland-client-stopped ${describeExit(await mesh.stop("wayland-client"))}`);
    const mark = mesh.mark("wayland-client");
    await mesh.start("wayland-client");
    await mesh.waitForOutput("wayland-client", /window \d+x\d+ configured/, STEP_TIMEOUT_MS, mark);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    say(`PROCS ${westonProcesses().join(" ")}`);
    const signalled = performance.now();
    const exit = await mesh.stop("wayland-server");
    say(`SIGTERM-TO-EXIT-MS ${Math.round(performance.now() - signalled)}`);
    say(`EXIT wayland-server-sigterm ${describeExit(exit)}`);
    say(`EXIT wayland-client-after ${describeExit(await within(STEP_TIMEOUT_MS, "the client's exit", mesh.exited("wayland-client")))}`);
    // Weston's helpers see its socket close and exit on their own: give them the same 2 s.
    for (const until = performance.now() + 2000; westonProcesses().length > 0 && performance.now() < until; ) await new Promise((wake) => setTimeout(wake, 50));
    say(`PROCS-AFTER ${westonProcesses().join(" ") || "none"}`);
    readCrtc("after");
  } finally {
    await mesh.close();
  }

  // 4. wayland-server while drm-master holds the card.
  say("PART 4 wayland-server while drm-master holds the card");
  const holder = run("drm-master", ["--hold", "0"], 4 * STEP_TIMEOUT_MS);
  await holder.waitFor(/holding the picture/);
  const second = await meshWith([{ name: "drm-provider", devices: [CARD] }, { name: "wayland-server" }]);
  try {
    say(`EXIT wayland-server-contended ${describeExit(await within(STEP_TIMEOUT_MS, "wayland-server's exit", second.exited("wayland-server")))}`);
    await screen("bars");
  } finally {
    await second.close();
  }
  holder.kill("SIGTERM");
  await finished("master-holder", holder);
  say("DONE");
}

function describeExit(exit: { code: number | null; signal: string | null }): string {
  return `code=${exit.code} signal=${exit.signal}`;
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    say(`ERROR ${error instanceof Error ? error.stack : String(error)}`);
    process.exit(1);
  },
);
