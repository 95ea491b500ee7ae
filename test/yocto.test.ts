// The Yocto layer stays in step with the repository: every container has a recipe and every recipe
// a container, every container.json (the packaging facts the class and `npm run pack` both read)
// is valid and lists exactly the folder's manifests and rootfs files, the manifests validate and
// fit together, the recipes stay parallel (one variable order), and the addon recipes say what
// binding.gyp says. BitBake is not available here (not packaged for Debian 12), so these checks
// read the recipes as text (simple `VAR = "value"` assignments, which is all our recipes are
// allowed to contain) and run the class's own Python against a small stand-in for BitBake's
// datastore (test/support/bbclass.py).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadArgs, loadServices } from "../shared/manifest";
import { loadFacts } from "../tools/pack/container";
import { bitbakeVars } from "./support/bitbake";

const ROOT = join(__dirname, "..");
const CONTAINERS = join(ROOT, "containers");
const LAYER = join(ROOT, "bitbake");
const RECIPES = join(LAYER, "recipes-containers", "pv-examples");
const ADDON_RECIPES = join(LAYER, "recipes-support", "pv-example-addons");
const MANIFESTS = ["args.json", "services.json", "config.json", "mdev.json", "network.json"];
/** The one order of a container recipe: SUMMARY, DESCRIPTION, inherit always; the rest is in container.json. */
const RECIPE_ORDER = ["SUMMARY", "DESCRIPTION", "PV_EXAMPLE_PVR_ARGS", "inherit"];

interface Recipe {
  file: string;
  /** Statements in file order: variable names, or "inherit". */
  order: string[];
  vars: Record<string, string>;
  inherits: string[];
}

/** Reads the subset of BitBake syntax our recipes use; anything else is reported as an error. */
function parseRecipe(file: string): Recipe {
  const text = readFileSync(file, "utf8").replace(/\\\n\s*/g, " ");
  const recipe: Recipe = { file, order: [], vars: {}, inherits: [] };
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const inherit = /^inherit\s+(.+)$/.exec(line);
    const assign = /^([A-Za-z0-9_:${}\-[\].]+)\s*(=|\?=|\?\?=|\+=|:=)\s*"(.*)"$/.exec(line);
    if (inherit) {
      recipe.order.push("inherit");
      recipe.inherits.push(...inherit[1].split(/\s+/));
    } else if (assign) {
      if (assign[2] !== "=") throw new Error(`${relative(ROOT, file)}: "${line}": recipes assign with "=" only`);
      recipe.order.push(assign[1]);
      recipe.vars[assign[1]] = assign[3].replace(/\s+/g, " ").trim();
    } else throw new Error(`${relative(ROOT, file)}: unexpected line "${line}"`);
  }
  return recipe;
}

function recipeName(file: string): string {
  return file.replace(/_[^_]*\.bb$/, "").replace(/\.bb$/, "");
}

function containerFolders(): string[] {
  return readdirSync(CONTAINERS)
    .filter((name) => ["services.json", "args.json", "container.json", "device.json"].some((f) => existsSync(join(CONTAINERS, name, f))))
    .sort();
}

function containerRecipes(): Map<string, string> {
  const map = new Map<string, string>();
  for (const file of readdirSync(RECIPES).filter((f) => f.endsWith(".bb"))) map.set(recipeName(file).replace(/^pv-example-/, ""), join(RECIPES, file));
  return map;
}

function programOf(name: string): string {
  return loadFacts(ROOT, name).program;
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

/** The native/<lib> folders a program's built bundle pulls in, read from its source map. */
function nativeLibsOf(program: string): string[] {
  const map = join(ROOT, "dist", program, "app.js.map");
  if (!existsSync(map)) throw new Error(`dist/${program}/app.js.map missing: run node scripts/build.mjs ${program}`);
  const sources = (JSON.parse(readFileSync(map, "utf8")) as { sources: string[] }).sources;
  const libs = sources.map((source) => /(?:^|\/)native\/([^/]+)\//.exec(source)?.[1]).filter((lib): lib is string => lib !== undefined);
  return [...new Set(libs)].sort();
}

const DEVICE_CONFIG = "device-config";
const recipes = containerRecipes();
const nodeRecipes = [...recipes.keys()].filter((name) => name !== DEVICE_CONFIG).sort();

describe("layer", () => {
  it("has its own collection, is compatible with scarthgap and outranks meta-pantavisor", () => {
    const conf = readFileSync(join(LAYER, "conf", "layer.conf"), "utf8");
    expect(conf).toMatch(/^BBFILE_COLLECTIONS \+= "pv-examples"$/m);
    expect(conf).toMatch(/^LAYERSERIES_COMPAT_pv-examples = "scarthgap"$/m);
    const depends = /^LAYERDEPENDS_pv-examples = "(.*)"$/m.exec(conf)?.[1].split(/\s+/) ?? [];
    expect(depends.sort()).toEqual(["core", "meta-pantavisor", "openembedded-layer"]);
    const priority = Number(/^BBFILE_PRIORITY_pv-examples = "(\d+)"$/m.exec(conf)?.[1]);
    expect(priority).toBeGreaterThan(5);
    expect(conf).toMatch(/^PV_EXAMPLES_ROOT := /m);
  });

  it("keeps the class's /var volume and never pulls core-image", () => {
    const classText = readFileSync(join(LAYER, "classes", "pv-example-node.bbclass"), "utf8");
    expect(classText).toMatch(/^PVR_APP_ADD_EXTRA_ARGS = "--volume ovl:\/var:permanent --config=Entrypoint=\/usr\/bin\/\$\{PN\}/m);
    expect(classText).toMatch(/^inherit image container-pvrexport$/m);
    for (const file of filesUnder(LAYER).filter((f) => /\.(bb|bbclass|inc)$/.test(f))) {
      const text = readFileSync(file, "utf8");
      expect(text, relative(ROOT, file)).not.toMatch(/PVR_APP_ADD_EXTRA_ARGS\s*\+=/);
      expect(text, relative(ROOT, file)).not.toMatch(/^inherit\s+[^\n]*core-image/m);
    }
  });
});

describe("container recipes", () => {
  it("exist for every container folder, and every recipe has its folder", () => {
    expect(nodeRecipes.concat(DEVICE_CONFIG).sort()).toEqual(containerFolders());
  });

  it.each(nodeRecipes)("pv-example-%s follows the common order and inherits pv-example-node", (name) => {
    const recipe = parseRecipe(recipes.get(name)!);
    const unknown = recipe.order.filter((statement) => !RECIPE_ORDER.includes(statement));
    expect(unknown, "variables the class does not define as knobs").toEqual([]);
    const positions = recipe.order.map((statement) => RECIPE_ORDER.indexOf(statement));
    expect(positions, `order must follow ${RECIPE_ORDER.join(", ")}`).toEqual([...positions].sort((a, b) => a - b));
    expect(recipe.order.slice(0, 2)).toEqual(["SUMMARY", "DESCRIPTION"]);
    expect(recipe.order.at(-1)).toBe("inherit");
    expect(recipe.inherits).toEqual(["pv-example-node"]);
  });

  it.each(nodeRecipes)("containers/%s/container.json is valid and lists exactly the folder's manifests and rootfs files", (name) => {
    const facts = loadFacts(ROOT, name);
    const present = [
      ...MANIFESTS.filter((f) => existsSync(join(CONTAINERS, name, f))),
      ...filesUnder(join(CONTAINERS, name, "rootfs")).map((f) => relative(join(CONTAINERS, name), f)),
    ].sort();
    expect([...facts.files].sort()).toEqual(present);
  });

  it.each(nodeRecipes)("pv-example-%s packages a program that exists, with the addons its bundle loads", (name) => {
    const facts = loadFacts(ROOT, name);
    expect(existsSync(join(CONTAINERS, facts.program, "main.ts")), `containers/${facts.program}/main.ts (the program of ${name})`).toBe(true);
    expect([...facts.addons].sort()).toEqual(nativeLibsOf(facts.program));
  });

  it("the class reads every container.json as pack does (its own Python, run against a stand-in datastore)", () => {
    const vars = bitbakeVars(ROOT, nodeRecipes.map((name) => recipes.get(name)!));
    for (const [i, name] of nodeRecipes.entries()) {
      const facts = loadFacts(ROOT, name);
      const got = vars[i];
      expect(got.PN).toBe(`pv-example-${name}`);
      expect(got.PV_EXAMPLE_MISSING, name).toBe("");
      expect(got.PV_EXAMPLE_PROGRAM, name).toBe(facts.program);
      expect(got.PV_EXAMPLE_FILES.split(" ").filter(Boolean), name).toEqual(facts.files);
      expect(got.PV_EXAMPLE_PACKAGES.split(" ").filter(Boolean), name).toEqual(facts.packages.map((p) => p.yocto));
      expect(got.PV_EXAMPLE_ADDONS.split(" ").filter(Boolean), name).toEqual(facts.addons);
      expect(got.PVRIMAGE_AUTO_MDEV, name).toBe(facts.autoMdev ? "1" : "0");
      expect(got.PVR_APP_ADD_GROUP, name).toBe("app");
      const installed = got.IMAGE_INSTALL.split(" ").filter(Boolean);
      for (const pkg of [...facts.packages.map((p) => p.yocto), ...facts.addons.map((lib) => `pv-example-addon-${lib}`), "busybox", "nodejs"]) expect(installed, name).toContain(pkg);
      const fetched = got.SRC_URI.split(" ").filter(Boolean);
      const program = ["main.js", "app.js", "app.cache"].map((f) => `file://dist/${facts.program}/${f}`);
      expect(fetched, name).toEqual([...program, ...facts.files.map((f) => `file://containers/${name}/${f}`)]);
    }
  });

  it("a broken or missing container.json fails that recipe's do_fetch with the reason, and parsing goes on", () => {
    const root = mkdtempSync(join(tmpdir(), "pv-bbroot-"));
    try {
      mkdirSync(join(root, "containers", "unix-server"), { recursive: true });
      writeFileSync(join(root, "containers", "unix-server", "container.json"), '{"program": "unix-server", "files": ');
      const [broken, absent] = bitbakeVars(root, [recipes.get("unix-server")!, recipes.get("unix-client")!]);
      expect(broken.PV_EXAMPLE_MISSING).toMatch(/^containers\/unix-server\/container\.json: .*; dist\/unix-server\/main\.js is missing; dist\/unix-server\/app\.js is missing; dist\/unix-server\/app\.cache is missing$/);
      expect(absent.PV_EXAMPLE_MISSING).toMatch(/^containers\/unix-client\/container\.json: \[Errno 2\] No such file or directory: .*; dist\/unix-client\/main\.js is missing; dist\/unix-client\/app\.js is missing; dist\/unix-client\/app\.cache is missing$/);
      expect(broken.SRC_URI.trim()).toBe("");
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("device-config packages containers/device-config/device.json and signs it as the seed does", () => {
    const text = readFileSync(recipes.get(DEVICE_CONFIG)!, "utf8");
    expect(text).toContain("file://containers/device-config/device.json");
    expect(text).toContain('pvr sig add -n --raw device-config --include "device.json"');
    expect(text).toMatch(/^addtask deploy after do_compile before do_build$/m);
    expect(text).toMatch(/^SRC_URI\[pv-developer-ca\.sha256sum\] = "[0-9a-f]{64}"$/m);
  });
});

describe("manifests", () => {
  const folders = containerFolders().filter((name) => name !== DEVICE_CONFIG);
  const exported = new Map<string, string>();
  beforeAll(() => {
    for (const name of folders) {
      const file = join(CONTAINERS, name, "services.json");
      if (existsSync(file)) for (const service of loadServices(file)) exported.set(service.name, name);
    }
  });

  it.each(folders)("%s: manifests validate", (name) => {
    const services = join(CONTAINERS, name, "services.json");
    const args = join(CONTAINERS, name, "args.json");
    expect(existsSync(services) || existsSync(args), "a container has services.json or args.json").toBe(true);
    if (existsSync(services)) expect(loadServices(services).length).toBeGreaterThan(0);
    if (existsSync(args)) {
      for (const requirement of loadArgs(args).required) expect(requirement.target, `${name}: ${requirement.name}`).toMatch(/^\//);
    }
  });

  it("every required service is exported by some container", () => {
    const unmet: string[] = [];
    for (const name of folders) {
      const args = join(CONTAINERS, name, "args.json");
      if (!existsSync(args)) continue;
      for (const requirement of loadArgs(args).required) {
        if (!exported.has(requirement.name)) unmet.push(`${name} requires ${requirement.name}`);
      }
    }
    expect(unmet).toEqual([]);
  });

  it("device.json defines the seed's pool and groups", () => {
    const device = JSON.parse(readFileSync(join(CONTAINERS, DEVICE_CONFIG, "device.json"), "utf8"));
    expect(device.network.pools.internal).toEqual({ type: "bridge", bridge: "br0", subnet: "10.0.3.0/24", gateway: "10.0.3.1", nat: true });
    expect(device.groups.map((g: { name: string }) => g.name)).toEqual(["root", "platform", "app"]);
  });

  it.each([
    ["ipam-valid", "10.0.3.50"],
    ["ipam-invalid", "192.168.99.100"],
    ["ipam-collision", "10.0.3.50"],
  ])("%s asks pool internal for %s", (name, ip) => {
    expect(loadArgs(join(CONTAINERS, name, "args.json")).all).toEqual({ PV_NETWORK_POOL: "internal", PV_NETWORK_IP: ip, PV_RESTART_POLICY: "container" });
    expect(programOf(name)).toBe("ipam-probe");
  });
});

describe("addon recipes", () => {
  const libs = existsSync(join(ROOT, "native"))
    ? readdirSync(join(ROOT, "native")).filter((lib) => existsSync(join(ROOT, "native", lib, "binding.gyp"))).sort()
    : [];

  it("exist for every native addon, and every recipe has its addon", () => {
    const recipes = existsSync(ADDON_RECIPES) ? readdirSync(ADDON_RECIPES) : [];
    const recipeLibs = recipes.filter((f) => f.endsWith(".bb")).map((f) => recipeName(f).replace(/^pv-example-addon-/, "")).sort();
    expect(recipeLibs).toEqual(libs);
  });

  it.each(libs)("pv-example-addon-%s builds what binding.gyp builds", (lib) => {
    // binding.gyp is Python-literal JSON with # comments.
    const gyp = JSON.parse(readFileSync(join(ROOT, "native", lib, "binding.gyp"), "utf8").replace(/^\s*#.*$/gm, ""));
    const target = gyp.targets[0];
    const file = readdirSync(ADDON_RECIPES).find((f) => recipeName(f) === `pv-example-addon-${lib}`)!;
    const recipe = parseRecipe(join(ADDON_RECIPES, file));
    expect(recipe.vars.PV_ADDON_TARGET).toBe(target.target_name);
    expect(recipe.vars.PV_ADDON_SOURCES.split(" ")).toEqual(target.sources);
    const modules = [...JSON.stringify(target).matchAll(/pkg-config --(?:cflags|libs) ([\w-]+)/g)].map((m) => m[1]);
    expect(recipe.vars.PV_ADDON_PKGCONFIG.split(" ").sort()).toEqual([...new Set(modules)].sort());
    for (const source of target.sources as string[]) expect(existsSync(join(ROOT, "native", lib, source))).toBe(true);
    expect(recipe.inherits).toEqual(["pv-example-addon"]);
  });
});

describe("kas staging", () => {
  let meta: string;
  beforeAll(() => {
    meta = mkdtempSync(join(tmpdir(), "pv-meta-"));
    mkdirSync(join(meta, "kas", "build-configs", "release"), { recursive: true });
    writeFileSync(join(meta, "kas", "build-configs", "release", "docker-x86_64-scarthgap.yaml"), "header:\n  version: 16\n");
  });
  afterAll(() => rmSync(meta, { recursive: true, force: true }));

  it("the fragment adds this repository's bitbake/ layer from layers/pv-examples", () => {
    const fragment = readFileSync(join(LAYER, "kas", "pv-examples.yaml"), "utf8");
    expect(fragment).toMatch(/^header:\n {2}version: \d+$/m);
    expect(fragment).toMatch(/^ {4}path: layers\/pv-examples$/m);
    expect(fragment).toMatch(/^ {4}layers:\n {6}bitbake:$/m);
  });

  it("stage-kas.sh copies layer and fragment into meta-pantavisor and prints the kas-container line", () => {
    if (!existsSync(join(ROOT, "dist"))) throw new Error("dist/ missing: run node scripts/build.mjs first");
    const result = spawnSync("bash", [join(ROOT, "scripts", "stage-kas.sh"), meta, "pv-example-unix-server"], { encoding: "utf8" });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`cd ${meta} && ./kas-container build kas/build-configs/release/docker-x86_64-scarthgap.yaml:kas/pv-examples.yaml`);
    expect(result.stdout).toContain("--target pv-example-unix-server");
    expect(readFileSync(join(meta, "kas", "pv-examples.yaml"), "utf8")).toBe(readFileSync(join(LAYER, "kas", "pv-examples.yaml"), "utf8"));
    expect(existsSync(join(meta, "layers", "pv-examples", "bitbake", "conf", "layer.conf"))).toBe(true);
    expect(statSync(join(meta, "layers", "pv-examples", "containers")).isDirectory()).toBe(true);
    expect(existsSync(join(meta, "layers", "pv-examples", "node_modules"))).toBe(false);
  });

  it("stage-kas.sh refuses a folder that is not a meta-pantavisor checkout", () => {
    const empty = mkdtempSync(join(tmpdir(), "pv-notmeta-"));
    try {
      const result = spawnSync("bash", [join(ROOT, "scripts", "stage-kas.sh"), empty], { encoding: "utf8" });
      expect(result.status).toBe(2);
      expect(result.stderr).toMatch(/^FAILED: .* not a meta-pantavisor checkout/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe("ipam-probe bundle", () => {
  const children: ReturnType<typeof spawn>[] = [];
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
  });

  it("prints interfaces and routes, stays up, and exits 0 on SIGTERM", async () => {
    const bundle = join(ROOT, "dist", "ipam-probe", "main.js");
    expect(existsSync(bundle), "dist/ipam-probe/main.js (node scripts/build.mjs ipam-probe)").toBe(true);
    const child = spawn(process.execPath, [bundle, "--expect", "127.0.0.1"], { stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    let output = "";
    child.stdout!.on("data", (chunk) => (output += chunk));
    child.stderr!.on("data", (chunk) => (output += chunk));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "running" line; output:\n${output}`)), 10_000);
      child.stdout!.on("data", () => {
        if (output.includes("running until stopped")) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    expect(child.exitCode).toBeNull();

    expect(output).toMatch(/ lo \S+ \S+ .*127\.0\.0\.1\/8/);
    expect(output).toContain("expected address 127.0.0.1 is on lo");
    // One printed route per line of the kernel's table, on the same interfaces.
    const table = readFileSync("/proc/net/route", "utf8").trim().split("\n").slice(1).map((line) => line.split(/\s+/)[0]);
    const routes = output.split("--- IPv4 routes ---\n")[1].split("\n").filter((line) => / dev /.test(line));
    expect(routes.map((line) => /dev (\S+)/.exec(line)![1])).toEqual(table);

    const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    expect(await exit).toBe(0);
    expect(output).toContain("SIGTERM received");
  });
});
