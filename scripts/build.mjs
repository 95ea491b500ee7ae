#!/usr/bin/env node
// Builds what ships, for each program (containers/<program>/main.ts), in dist/<program>/:
//   main.js    the entrypoint (`#!/usr/bin/env node`): scripts/loader.cjs, a few lines that start
//              app.js from app.cache;
//   app.js     the program: one esbuild bundle (CommonJS, Node 20) wrapped as one function, with
//              app.js.map;
//   app.cache  V8's code for app.js (scripts/code-cache.cjs), so that a start does not compile the
//              bundle again; made by this node, and refused (then app.js is compiled) by another;
//   *.node     the native addons it imports: native/<lib>/ is compiled by node-gyp when its sources
//              changed, and the .node is copied beside every program that imports it (the addons'
//              loaders look next to the bundle, `__dirname`, on the host and in the image alike).
// The image needs the whole folder. The mesh demo, the benchmark runner and the tools are plain
// bundles (dist/mesh/demo.js, dist/bench/main.js, dist/<tool>/main.js).
//
// Usage: node scripts/build.mjs [--keep-going] [program ...]   (default: everything)
//   --keep-going: a program that fails to build loses its old bundle (so nothing tests a stale one)
//   and the others are still built; the exit status is 1 if any failed.
import { build } from "esbuild";
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { promisify } from "node:util";

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

/** Writes `path` beside itself and renames it over the old one. */
function writeAtomically(path, contents, mode) {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, contents, { mode });
  renameSync(temporary, path);
}

// A program's bundle is one function taking what Node passes a CommonJS module (see loader.cjs).
const AS_FUNCTION = { banner: "(function (exports, require, module, __filename, __dirname) {", footer: "})" };

async function bundle(entry, outfile, wrap = null) {
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
    banner: { js: wrap?.banner ?? "#!/usr/bin/env node" },
    footer: { js: wrap?.footer ?? "" },
    // What `--version` prints (shared/cli.ts).
    define: { PV_EXAMPLES_VERSION: JSON.stringify(VERSION) },
    // dbus-next's optional helpers: abstract sockets (a native module) and X11 session-bus
    // discovery; neither is used, both are required lazily.
    external: ["usocket", "x11", "*.node"],
    logLevel: "warning",
    write: false,
  });
  // Each file is written beside its final name and renamed over it: a program starting from dist/
  // while a build runs (a test, a README snippet's `npm run build`) reads the old file or the new
  // one, never half of one.
  for (const file of result.outputFiles) writeAtomically(file.path, file.contents, file.path === outfile && wrap === null ? 0o755 : 0o644);
  return Object.keys(result.metafile.inputs);
}

/** Writes dist/<program>/app.cache: run by a node of its own, without the V8 flags this one may have. */
async function makeCodeCache(outDir) {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  await promisify(execFile)(process.execPath, [join(ROOT, "scripts", "code-cache.cjs"), join(outDir, "app.js"), join(outDir, "app.cache")], { env });
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
  const inputs = await bundle(entry, join(outDir, "app.js"), AS_FUNCTION);
  writeAtomically(join(outDir, "main.js"), `#!/usr/bin/env node\n${readFileSync(join(ROOT, "scripts", "loader.cjs"), "utf8")}`, 0o755);
  // Left by builds from before the loader: main.js was the bundle.
  rmSync(join(outDir, "main.js.map"), { force: true });
  for (const lib of nativeLibs) {
    if (!inputs.some((input) => input.startsWith(`native/${lib}/`))) continue;
    if (!nativeBuilt.has(lib)) nativeBuilt.set(lib, buildNative(lib));
    // Copy, then rename over the old file: a program still running from dist/ keeps its mapping
    // of the old .node instead of crashing on a file rewritten under it.
    for (const file of nativeBuilt.get(lib)) writeAtomically(join(outDir, file.split("/").pop()), readFileSync(file), 0o755);
  }
  await makeCodeCache(outDir);
  console.log(`built dist/${program}/main.js (app.js, app.cache)`);
}

// Two at a time: each code cache is made by a node process of its own.
const queue = [...selected];
await Promise.all(
  [0, 1].map(async () => {
    for (let program = queue.shift(); program !== undefined; program = queue.shift()) {
      try {
        await buildProgram(program);
      } catch (error) {
        if (!keepGoing) throw error;
        rmSync(join(DIST, program), { recursive: true, force: true });
        console.error(`FAILED to build ${program}: ${error.message}`);
        failed.push(program);
      }
    }
  }),
);

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
