#!/usr/bin/env node
// Builds what ships: one esbuild bundle per program (dist/<program>/main.js, CommonJS, Node 20,
// with a `#!/usr/bin/env node` banner so the bundle itself is the container's entrypoint) and the
// mesh demo (dist/mesh/demo.js). Native addons under native/<lib>/ are compiled by node-gyp when
// their sources changed, and each .node is copied beside every bundle that imports that addon:
// the loaders look for it next to the bundle (`__dirname`), on the host and in the image alike.
//
// Usage: node scripts/build.mjs [--keep-going] [program ...]   (default: everything)
//   --keep-going: a program that fails to build loses its old bundle (so nothing tests a stale one)
//   and the others are still built; the exit status is 1 if any failed.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";

const ROOT = new URL("..", import.meta.url).pathname;
const DIST = join(ROOT, "dist");
const VERSION = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;

/** Programs are container folders that have their own main.ts (variants reuse another's bundle). */
function programs() {
  return readdirSync(join(ROOT, "containers"))
    .filter((name) => existsSync(join(ROOT, "containers", name, "main.ts")))
    .sort();
}

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "build" || entry.name === "node_modules") continue;
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Compile native/<lib> with node-gyp unless its .node is newer than every source file. */
function buildNative(lib) {
  const dir = join(ROOT, "native", lib);
  const release = join(dir, "build", "Release");
  const built = existsSync(release) ? readdirSync(release).filter((f) => f.endsWith(".node")) : [];
  const upToDate = built.length > 0 && built.every((f) => statSync(join(release, f)).mtimeMs > newestMtime(dir));
  if (!upToDate) {
    console.log(`native: node-gyp rebuild in native/${lib}`);
    // Build against this Node's own headers (Debian's nodejs ships them) rather than letting
    // node-gyp download them: the machines here reach no such server.
    const prefix = dirname(dirname(process.execPath));
    const nodedir = !process.env.npm_config_nodedir && existsSync(join(prefix, "include", "node", "node_api.h")) ? [`--nodedir=${prefix}`] : [];
    execFileSync(process.execPath, [join(ROOT, "node_modules", "node-gyp", "bin", "node-gyp.js"), "rebuild", ...nodedir], {
      cwd: dir,
      stdio: ["ignore", "inherit", "inherit"],
    });
  }
  return readdirSync(release).filter((f) => f.endsWith(".node")).map((f) => join(release, f));
}

async function bundle(entry, outfile) {
  const result = await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    sourcemap: true,
    metafile: true,
    legalComments: "none",
    banner: { js: "#!/usr/bin/env node" },
    // What `--version` prints (shared/cli.ts).
    define: { PV_EXAMPLES_VERSION: JSON.stringify(VERSION) },
    // dbus-next's optional helpers: abstract sockets (a native module) and X11 session-bus
    // discovery; neither is used, both are required lazily.
    external: ["usocket", "x11", "*.node"],
    logLevel: "warning",
    write: false,
  });
  // Each file is written beside its final name and renamed over it: a program starting from dist/
  // while a build runs (a test, a README snippet's `npm run build`) reads the old bundle or the
  // new one, never half of one.
  for (const file of result.outputFiles) {
    const temporary = `${file.path}.${process.pid}.tmp`;
    writeFileSync(temporary, file.contents, { mode: file.path === outfile ? 0o755 : 0o644 });
    renameSync(temporary, file.path);
  }
  return Object.keys(result.metafile.inputs);
}

const keepGoing = process.argv.includes("--keep-going");
const wanted = process.argv.slice(2).filter((arg) => arg !== "--keep-going");
const selected = wanted.length > 0 ? wanted : programs();
const nativeLibs = existsSync(join(ROOT, "native"))
  ? readdirSync(join(ROOT, "native")).filter((lib) => existsSync(join(ROOT, "native", lib, "binding.gyp")))
  : [];
const nativeBuilt = new Map();
const failed = [];

async function buildProgram(program) {
  const entry = join(ROOT, "containers", program, "main.ts");
  if (!existsSync(entry)) throw new Error(`no program ${program}: ${relative(ROOT, entry)} does not exist`);
  const outDir = join(DIST, program);
  mkdirSync(outDir, { recursive: true });
  const inputs = await bundle(entry, join(outDir, "main.js"));
  for (const lib of nativeLibs) {
    if (!inputs.some((input) => input.startsWith(`native/${lib}/`))) continue;
    if (!nativeBuilt.has(lib)) nativeBuilt.set(lib, buildNative(lib));
    // Copy, then rename over the old file: a program still running from dist/ keeps its mapping
    // of the old .node instead of crashing on a file rewritten under it.
    for (const file of nativeBuilt.get(lib)) {
      const dest = join(outDir, file.split("/").pop());
      copyFileSync(file, `${dest}.${process.pid}.tmp`);
      renameSync(`${dest}.${process.pid}.tmp`, dest);
    }
  }
  console.log(`built dist/${program}/main.js`);
}

for (const program of selected) {
  try {
    await buildProgram(program);
  } catch (error) {
    if (!keepGoing) throw error;
    rmSync(join(DIST, program), { recursive: true, force: true });
    console.error(`FAILED to build ${program}: ${error.message}`);
    failed.push(program);
  }
}

// Programs that are not containers: the demo, the benchmark runner, the tools.
const EXTRA_ENTRIES = [
  ["mesh/demo.ts", "mesh/demo.js"],
  ["bench/main.ts", "bench/main.js"],
  ...(existsSync(join(ROOT, "tools")) ? readdirSync(join(ROOT, "tools")).map((tool) => [`tools/${tool}/main.ts`, `${tool}/main.js`]) : []),
];
if (wanted.length === 0) {
  for (const [entry, out] of EXTRA_ENTRIES) {
    if (!existsSync(join(ROOT, entry))) continue;
    try {
      mkdirSync(join(DIST, out, ".."), { recursive: true });
      await bundle(join(ROOT, entry), join(DIST, out));
      console.log(`built dist/${out}`);
    } catch (error) {
      if (!keepGoing) throw error;
      rmSync(join(DIST, out), { force: true });
      console.error(`FAILED to build ${entry}: ${error.message}`);
      failed.push(entry);
    }
  }
}
if (failed.length > 0) {
  console.error(`build: ${failed.length} program(s) failed: ${failed.join(", ")}`);
  process.exit(1);
}
