// The demo: every example pair that can run on this machine, wired by the local mesh (a stand-in
// for pv-xconnect), with each container's output streamed under its name.
//
// Run:  npm start -- [--profile documented|master] [--duration SECONDS] [--keep] [--view HOST:PORT]
//       (npm start builds first; `node dist/mesh/demo.js` runs the built demo as is; --help)
// Stop: Ctrl-C, or after --duration: every container gets SIGTERM, the mesh is torn down, exit 0.
//
// Every line a container prints is shown as `[<container>] <line>`, and the mesh's own as `[mesh] ...`.
// mesh-view draws the mesh live in a browser: the demo starts it on the mesh's graph and prints its URL.
import { parseCommandLine, positiveNumber, UsageError } from "../shared/cli";
import { runMain } from "../shared/run";
import { join } from "node:path";
import { ChildProgram, onPath } from "./process";
import { drmUnavailable, hostDrmNodes } from "./types/drm";
import { PROFILES, type Profile } from "./types/link";
import { findRepoRoot, startMesh, type ContainerSpec, type GraphEntry } from "./xconnect";

interface Pattern {
  name: string;
  containers: ContainerSpec[];
  /** Why the pattern cannot run here, or null when it can. */
  unavailable(): string | null;
}

// The clients tick every 2 s instead of 5 s so that a short demo shows several exchanges.
const FAST = ["--interval", "2"];

const PATTERNS: Pattern[] = [
  {
    name: "unix socket",
    containers: [{ name: "unix-server" }, { name: "unix-client", args: FAST }],
    unavailable: () => null,
  },
  {
    name: "REST over UDS",
    containers: [{ name: "rest-server" }, { name: "rest-client", args: FAST }],
    unavailable: () => null,
  },
  {
    // dbus-server runs its own dbus-daemon; the two clients differ only in role (args.json).
    // documented: both get replies (as uid 0 / 65534); master: role nobody is rejected at auth.
    name: "D-Bus",
    containers: [{ name: "dbus-server" }, { name: "dbus-client", args: FAST }, { name: "dbus-client-nobody", args: FAST }],
    unavailable: () =>
      !onPath("dbus-daemon")
        ? "dbus-daemon is not installed (apt-get install dbus)"
        : process.getuid?.() !== 0
          ? "needs root: the mesh connects to the bus as each role's uid"
          : null,
  },
  {
    // The provider gets the host's DRM nodes in its root; drm-master does a real modeset on card0
    // (it needs the display: on a desktop session it says it cannot become DRM master).
    name: "DRM",
    containers: [
      { name: "drm-provider", devices: hostDrmNodes() },
      { name: "drm-master" },
      ...(hostDrmNodes().some((node) => node.endsWith("/renderD128")) ? [{ name: "drm-render" }] : []),
    ],
    unavailable: drmUnavailable,
  },
  {
    // Weston renders into memory (headless); on a device it drives card0, which is why
    // wayland-server requires drm-master. Where the DRM pattern runs, drm-provider exports card0
    // to it as on a device; elsewhere the demo leaves that requirement out and says so.
    name: "Wayland (headless Weston)",
    containers:
      drmUnavailable() === null
        ? [{ name: "drm-provider", devices: hostDrmNodes() }, { name: "wayland-server", args: ["--backend", "headless"] }, { name: "wayland-client", args: ["--report", "60"] }]
        : [
            { name: "wayland-server", args: ["--backend", "headless"], without: { services: ["drm-master"], why: `Weston runs headless; the DRM pattern is skipped: ${drmUnavailable()}` } },
            { name: "wayland-client", args: ["--report", "60"] },
          ],
    unavailable: () => (onPath("weston") ? null : "weston is not installed (apt-get install weston)"),
  },
];

function table(graph: GraphEntry[]): string {
  const columns = ["consumer", "consumer_pid", "provider", "provider_pid", "name", "type", "role", "target", "socket"] as const;
  const rows = graph.map((entry) => columns.map((column) => String(entry[column])));
  const widths = columns.map((column, i) => Math.max(column.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(columns), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

async function main(): Promise<number> {
  const { values } = parseCommandLine({
    name: "demo",
    summary: "Runs every example pair this machine can run, wired by the local mesh (a stand-in for pv-xconnect), and shows what each container prints.",
    options: {
      profile: { type: "string", value: "NAME", default: "documented", help: `how the mesh behaves: ${PROFILES.join(" or ")} (README.md, "Profiles")` },
      duration: { type: "string", value: "SECONDS", help: "stop by itself after this long (default: until Ctrl-C)" },
      keep: { type: "boolean", help: "keep the mesh's work directory (each container's root) afterwards" },
      view: { type: "string", value: "HOST:PORT", default: "127.0.0.1:8470", help: "where mesh-view serves the live picture of the mesh" },
    },
    notes: ["Patterns that cannot run here (D-Bus without root, DRM without /dev/dri nodes) are left out, each with a line saying why."],
    examples: ["npm start -- --profile master --duration 20", "node dist/mesh/demo.js --keep"],
  });
  const profile = values.profile as Profile;
  if (!PROFILES.includes(profile)) throw new UsageError(`--profile must be one of ${PROFILES.join(", ")}, got "${values.profile}"`);
  const durationSeconds = values.duration === undefined ? Infinity : positiveNumber("duration", values.duration);

  const containers: ContainerSpec[] = [];
  for (const pattern of PATTERNS) {
    const why = pattern.unavailable();
    // A container that two patterns share (drm-provider) runs once.
    if (why === null) containers.push(...pattern.containers.filter((c) => !containers.some((known) => known.name === c.name)));
    console.log(`${pattern.name}: ${why === null ? "running" : `skipped (${why})`}`);
  }

  const mesh = await startMesh({
    containers,
    profile,
    lingerMs: 60_000,
    keepWorkDir: values.keep,
    onLine: (container, line) => console.log(`[${container}] ${line}`),
  });
  console.log(`\nmesh up (profile ${profile}, work dir ${mesh.workDir}); GET /xconnect-graph on ${mesh.ctrlSocket}:\n`);
  console.log(table(mesh.graph()) + "\n");

  // mesh-view reads the graph (and the local mesh's counters) from the same socket pv-xconnect would.
  const view = new ChildProgram({
    name: "mesh-view",
    bundle: join(findRepoRoot(), "dist", "mesh-view", "main.js"),
    args: ["--ctrl", mesh.ctrlSocket, "--listen", values.view],
    onLine: (line) => console.log(`[mesh-view] ${line}`),
  });
  view.start();
  const url = await view.waitForOutput(/serving http:\S+/, 10_000).then(
    (line) => /serving (http:\S+)/.exec(line)![1],
    () => null,
  );
  // Said like a pattern ("<name>: running" or "skipped (why)"): README.md's expected output goes by it.
  console.log(url === null ? "\nmesh view: skipped (mesh-view did not start: its lines above say why)\n" : `\nmesh view: running\n  open ${url} in a browser: a live picture of the mesh\n`);

  // Only a signal or the duration ends the demo; the teardown below runs once either way.
  await new Promise<void>((resolve) => {
    const timer = durationSeconds === Infinity ? undefined : setTimeout(resolve, durationSeconds * 1000);
    const stop = (): void => {
      clearTimeout(timer);
      resolve();
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    // Output piped into `head` or a closed terminal: stop the mesh instead of dying mid-way.
    process.stdout.on("error", stop);
  });
  console.log("\nstopping the mesh...");
  if (view.running) await view.stop();
  await mesh.close();
  console.log(values.keep ? `done; work dir kept at ${mesh.workDir}` : "done");
  return 0;
}

runMain(main);
