// wayland-server: the provider side of the Wayland pattern, a launcher for the Weston compositor.
//
// Exports service `wayland-0` (type `wayland`, services.json): Weston's socket /run/wayland/wayland-0,
// which pv-xconnect makes reachable in each consumer that requires it (wayland-client). On a device
// Weston drives the display through DRM: the container requires `drm-master` at /dev/dri/card0
// (args.json), and the launcher waits for that node before starting Weston. `--backend headless`
// renders into memory instead (no DRM needed): that is how the demo and the tests run it.
// The launcher sets XDG_RUNTIME_DIR to the socket's directory (0700, as Weston requires), starts
// Weston with the socket name, prints its log, forwards SIGTERM and exits with Weston's status.
// On the DRM backend Weston needs nothing but the injected card: it runs on a seat of its own
// (DRM_SEAT), which has no virtual terminal, so Weston takes none (a container has no VT, and a
// compositor that leaves a VT hands the screen back to the kernel console, even from another master).
//
// Run:  node dist/wayland-server/main.js [--socket PATH] [--backend drm|headless|NAME]
//       [--drm-device PATH] [--wait SECONDS] [-- WESTON_OPTION...]   (PV_ROOT=DIR moves the default paths; --help)
//       e.g. --backend headless -- --debug --width=640     (--debug enables weston-screenshooter)
// Stop: SIGTERM or Ctrl-C: Weston gets SIGTERM (SIGKILL after 3 s); exits with Weston's status.
//
// Simplified: the pixman (CPU) renderer on every backend; no weston.ini written; no input required.
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { constants } from "node:os";
import { basename, dirname } from "node:path";
import { parseCommandLine, UsageError } from "../../shared/cli";
import { log, reason } from "../../shared/log";
import { devicePath, ROOT_ENV } from "../../shared/paths";
import { FatalError, runMain } from "../../shared/run";
import { sleep, stopSignal } from "../../shared/shutdown";
import { WAIT_OPTION, waitForPath, waitSeconds } from "../../shared/wait";

const SOCKET_PATH = "/run/wayland/wayland-0";
const DRM_DEVICE = "/dev/dri/card0";
const WESTON = "weston";
/**
 * Weston's seat on the DRM backend. Only seat0 has virtual terminals: on another seat Weston 10's
 * launcher (root, no logind) takes no VT, and libinput takes no input devices (there are none in
 * the container; --continue-without-input).
 */
const DRM_SEAT = "seat-pv";
const READY_TIMEOUT_MS = 10_000;
const KILL_AFTER_MS = 3000;
// Weston creates its socket within ~100 ms; a stat every 10 ms costs nothing and saves up to 90 ms of start-up.
const SOCKET_POLL_MS = 10;

export interface WestonOptions {
  socket: string;
  backend: string;
  drmDevice: string;
  extraArgs: string[];
}

export interface Compositor {
  pid: number;
  /** Resolves with Weston's exit status (128 + signal number when a signal ended it). */
  exited: Promise<number>;
  /** SIGTERM, then SIGKILL after KILL_AFTER_MS; resolves with the exit status. */
  close(): Promise<number>;
}

export function westonArgs(options: WestonOptions): string[] {
  const args = [`--backend=${options.backend}-backend.so`, `--socket=${basename(options.socket)}`, "--use-pixman", "--idle-time=0"];
  // Weston names DRM devices as udev does ("card0"); a device without keyboard or mouse is normal here.
  if (options.backend === "drm") args.push(`--drm-device=${basename(options.drmDevice)}`, `--seat=${DRM_SEAT}`, "--continue-without-input");
  return [...args, ...options.extraArgs];
}

/**
 * Lines in Weston's log that name the cause of a failed start better than its last error line
 * ("ERROR: DRM device 'card0' is not a KMS device" is what Weston 10 says when another process
 * holds DRM master: its launcher opened the card and found it could not become master).
 */
const KNOWN_CAUSES: Array<{ line: RegExp; cause: (options: WestonOptions) => string }> = [
  { line: /drm fd not master/, cause: (o) => `${o.drmDevice} is in use by another DRM master (a compositor or a modeset program such as drm-master holds the card; stop it first)` },
  { line: /not a vt/, cause: () => "no virtual terminal: on seat0 Weston 10's DRM backend (root, no logind) needs one as its stdin or --tty" },
];

/** Starts Weston and resolves once its socket exists; rejects with Weston's own reason if it fails first. */
export async function start(options: WestonOptions): Promise<Compositor> {
  const runtimeDir = dirname(options.socket);
  mkdirSync(runtimeDir, { recursive: true, mode: 0o700 });
  chmodSync(runtimeDir, 0o700);
  const child: ChildProcess = spawn(WESTON, westonArgs(options), {
    env: { ...process.env, XDG_RUNTIME_DIR: runtimeDir },
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (child.pid !== undefined) log(`wayland-server: started weston (pid ${child.pid})`);
  // Weston's log is the container's log; its error lines also explain a failed start.
  const problems: string[] = [];
  const causes: string[] = [];
  const logEnded = Promise.all([child.stdout!, child.stderr!].map((stream) => new Promise((resolve) => stream.once("close", resolve))));
  for (const stream of [child.stdout!, child.stderr!]) {
    let partial = "";
    stream.setEncoding("utf8").on("data", (chunk: string) => {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop()!;
      for (const line of lines.filter((text) => text.trim() !== "")) {
        log(`weston: ${line}`);
        const text = line.replace(/^\[[\d:.]+\]\s*/, "");
        if (/error|fatal|fail|cannot|denied/i.test(line)) problems.push(text);
        const known = KNOWN_CAUSES.find((known) => known.line.test(text));
        if (known !== undefined) causes.push(`${known.cause(options)} [weston: "${text}"]`);
      }
    });
  }
  const exited = new Promise<number>((resolve) => {
    child.once("error", (error) => {
      problems.push(`cannot run ${WESTON}: ${reason(error)}`);
      resolve(127);
    });
    child.once("exit", (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
  let done = false;
  void exited.then(() => (done = true));

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!existsSync(options.socket) && !done && Date.now() < deadline) await sleep(SOCKET_POLL_MS);
  if (done || !existsSync(options.socket)) {
    const status = done ? await exited : await stop(child, exited);
    await Promise.race([logEnded, sleep(500)]); // its last lines may still be in the pipe
    const why = causes[0] ?? (problems.slice(-2).join("; ") || "no error line in its log");
    const when = done ? `exited with status ${status}` : `did not create its socket within ${READY_TIMEOUT_MS / 1000} s`;
    throw new FatalError(`weston failed to start (${when}): ${why}`, status || 1);
  }
  return { pid: child.pid!, exited, close: () => stop(child, exited) };
}

async function stop(child: ChildProcess, exited: Promise<number>): Promise<number> {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), KILL_AFTER_MS);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}

async function main(): Promise<number> {
  const { values, positionals } = parseCommandLine({
    name: "wayland-server",
    summary: "Provider of the Wayland pattern (service wayland-0): launches Weston on the DRM node pv-xconnect injects, or headless.",
    options: {
      socket: { type: "string", value: "PATH", default: devicePath(SOCKET_PATH), help: "Weston's socket (its directory becomes XDG_RUNTIME_DIR)" },
      backend: { type: "string", value: "NAME", default: "drm", help: "Weston backend: drm (the display) or headless (into memory)" },
      "drm-device": { type: "string", value: "PATH", default: devicePath(DRM_DEVICE), help: "the injected KMS node the drm backend drives" },
      wait: { ...WAIT_OPTION, help: "drm backend: how long to wait for the injected KMS node before giving up with exit 1" },
    },
    positionals: "[-- WESTON_OPTION...]",
    env: ROOT_ENV,
    notes: ["Needs weston on PATH. Exit status: Weston's."],
    examples: ["wayland-server --socket /tmp/wl/wayland-0 --backend headless", "wayland-server --backend headless -- --debug --width=640"],
  });
  const options: WestonOptions = {
    socket: values.socket,
    backend: values.backend,
    drmDevice: values["drm-device"],
    extraArgs: positionals,
  };
  const wait = waitSeconds(values.wait);
  if (!/^[\w-]+$/.test(options.backend)) throw new UsageError(`--backend must be a Weston backend name (drm, headless), got "${options.backend}"`);
  log(`wayland-server: socket ${options.socket}, backend ${options.backend}${options.backend === "drm" ? ` on ${options.drmDevice}` : ""}`);
  log(`wayland-server: ${WESTON} ${westonArgs(options).join(" ")}`);

  const stopping = stopSignal();
  if (options.backend === "drm") {
    const found = await waitForPath(options.drmDevice, { waitSeconds: wait, what: "DRM device", signal: stopping });
    if (stopping.aborted) return 0;
    if (!found) throw new FatalError(`no DRM device at ${options.drmDevice} within ${wait} s (--wait; is drm-master injected?)`);
  }

  const weston = await start(options);
  log(`wayland-server: Weston is serving ${options.socket}`);
  const onStop = (): void => {
    log(`wayland-server: ${String(stopping.reason)} received, stopping Weston`);
    void weston.close();
  };
  stopping.addEventListener("abort", onStop, { once: true });
  if (stopping.aborted) onStop();
  const status = await weston.exited;
  log(`wayland-server: Weston exited with status ${status}`);
  return status;
}

if (require.main === module) runMain(main);
