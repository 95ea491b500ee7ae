// A packed export and the recipe for the same container agree: the same state keys, and the same
// run.json / src.json / lxc.container.conf facts that come from the recipe's `pvr app add`
// arguments (group, entrypoint, the /var volume, args.json) and from container-pvrexport (which
// manifests sit beside run.json, the mdev rule, the signature's selection). The recipe side is what
// BitBake would set, from the class's own Python (test/support/bbclass.py); the pack side is a real
// `npm run pack --sign`. The images do not matter here, so pack ships a tiny program as its node
// (--node /usr/bin/true): the rest of each export is made exactly as by default.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onPath } from "../mesh/process";
import { readPvrexport, type JsonObject, type Pvrexport } from "../tools/inspect/pvrexport";
import { bitbakeVars, type BitbakeVars } from "./support/bitbake";
import { cleanUp, REPO, scratchDir } from "./support/bundles";
import { skipUnless } from "./support/skips";

const RECIPES = join(REPO, "bitbake", "recipes-containers", "pv-examples");
const DEVICE_RECIPE = join(RECIPES, "pv-example-device-config_1.0.bb");
const recipeFiles = readdirSync(RECIPES).filter((f) => f.endsWith(".bb") && !f.startsWith("pv-example-device-config_"));
const NAMES = recipeFiles.map((f) => f.replace(/^pv-example-/, "").replace(/_[^_]*\.bb$/, "")).sort();
/** container-pvrexport's signing of every container (PVR_SIG_ADD_ARGS ??= "--noconfig --part ${PN}"). */
const SIGNS_AS = (pn: string): { include: string[]; exclude: string[] } => ({ include: [`${pn}/**`], exclude: [`${pn}/src.json`] });

function protectedHeader(exp: Pvrexport, key: string): JsonObject {
  return JSON.parse(Buffer.from((exp.state[key] as JsonObject).protected as string, "base64url").toString("utf8")) as JsonObject;
}

describe.skipIf(skipUnless(onPath("openssl"), "pack vs recipe", "needs openssl for the signing key and certificate (the recipes always sign)"))("pack vs recipe", () => {
  const exports = new Map<string, Pvrexport>();
  const recipe = new Map<string, BitbakeVars>();
  beforeAll(async () => {
    const dir = scratchDir("pv-pack-recipe-");
    const ssl = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-subj", "/CN=pack test", "-days", "2"], { cwd: dir, encoding: "utf8" });
    if (ssl.status !== 0) throw new Error(`openssl: ${ssl.stderr}`);
    const args = [join(REPO, "dist", "pack", "main.js"), ...NAMES, "device-config", "--out", join(dir, "out"), "--node", "/usr/bin/true", "--sign", join(dir, "key.pem"), "--cert", join(dir, "cert.pem")];
    const packed = spawnSync(process.execPath, args, { encoding: "utf8", timeout: 600_000 });
    if (packed.status !== 0) throw new Error(`pack failed: ${packed.stderr}`);
    for (const name of [...NAMES, "device-config"]) {
      const file = join(dir, "out", `pv-example-${name}.pvrexport.tgz`);
      exports.set(name, await readPvrexport(readFileSync(file), file));
    }
    const vars = bitbakeVars(REPO, NAMES.map((name) => join(RECIPES, recipeFiles.find((f) => f.startsWith(`pv-example-${name}_`))!)));
    NAMES.forEach((name, i) => recipe.set(name, vars[i]));
  }, 600_000);
  afterAll(cleanUp);

  it.each(NAMES)("pv-example-%s: the same state keys as the recipe's export", (name) => {
    const pn = `pv-example-${name}`;
    const vars = recipe.get(name)!;
    const staged = vars.PV_EXAMPLE_FILES.split(" ").filter((f) => f !== "" && !f.startsWith("rootfs/"));
    // pvr app add writes run.json, lxc.container.conf, root.squashfs, src.json; container-pvrexport
    // copies services.json and mdev.json (or writes the catch-all one), then signs.
    const expected = ["#spec", `${pn}/run.json`, `${pn}/lxc.container.conf`, `${pn}/root.squashfs`, `${pn}/src.json`, `_sigs/${pn}.json`];
    if (staged.includes("services.json")) expected.push(`${pn}/services.json`);
    if (staged.includes("mdev.json") || vars.PVRIMAGE_AUTO_MDEV === "1") expected.push(`${pn}/mdev.json`);
    expect(Object.keys(exports.get(name)!.state).sort()).toEqual(expected.sort());
  });

  it.each(NAMES)("pv-example-%s: run.json, src.json and lxc.container.conf say what the recipe's pvr app add arguments say", (name) => {
    const pn = `pv-example-${name}`;
    const vars = recipe.get(name)!;
    const exp = exports.get(name)!;
    const run = exp.state[`${pn}/run.json`] as JsonObject;
    const src = exp.state[`${pn}/src.json`] as JsonObject;
    const conf = exp.objects.get(exp.state[`${pn}/lxc.container.conf`] as string)!.toString("utf8");

    // --group
    expect(run.group).toBe(vars.PVR_APP_ADD_GROUP);
    expect((src.args as JsonObject).PV_GROUP).toBe(vars.PVR_APP_ADD_GROUP);
    // --config=Entrypoint=...
    const entrypoint = /--config=Entrypoint=(\S+)/.exec(vars.PVR_APP_ADD_EXTRA_ARGS)![1];
    expect(entrypoint).toBe(`/usr/bin/${pn}`);
    expect((src.docker_config as JsonObject).Entrypoint).toBe(entrypoint);
    expect(conf).toContain(`\nlxc.init.cmd = ${entrypoint}\n`);
    // --volume [ovl:]PATH:PERSISTENCE
    const volumes = [...vars.PVR_APP_ADD_EXTRA_ARGS.matchAll(/--volume (?:ovl:)?(\/\S*):(\w+)/g)];
    expect(volumes.length).toBeGreaterThan(0);
    for (const [, path, persistence] of volumes) {
      const volume = `docker-${path.replace(/\//g, "-")}`;
      expect((run.storage as JsonObject)[volume]).toEqual({ persistence });
      expect(conf).toContain(`\nlxc.mount.entry = /volumes/${pn}/${volume} ${path.slice(1)} none bind,rw,create=dir 0 0\n`);
    }
    // --arg-json ${PN}.args.json (the container's args.json, when the recipe stages one)
    const argsFile = join(REPO, "containers", name, "args.json");
    const args = vars.PV_EXAMPLE_FILES.split(" ").includes("args.json") ? (JSON.parse(readFileSync(argsFile, "utf8")) as JsonObject) : {};
    expect(src.args).toEqual({ ...args, PV_GROUP: vars.PVR_APP_ADD_GROUP });
    if (args.PV_SERVICES_REQUIRED !== undefined) expect((run.services as JsonObject).required).toEqual(args.PV_SERVICES_REQUIRED);
    else expect(run.services).toBeUndefined();
    expect(run.restart_policy).toBe(args.PV_RESTART_POLICY);
    // ${PN}.services.json beside run.json, as staged
    if (existsSync(join(REPO, "containers", name, "services.json")) && vars.PV_EXAMPLE_FILES.split(" ").includes("services.json")) {
      expect(exp.state[`${pn}/services.json`]).toEqual(JSON.parse(readFileSync(join(REPO, "containers", name, "services.json"), "utf8")));
    }
    // the export has a console: no lxc.console.path = none
    expect(conf).not.toMatch(/lxc\.console\.path\s*=\s*none/);
  });

  it.each(NAMES)("pv-example-%s: the signature selects what `pvr sig add --noconfig --part` selects", (name) => {
    const pn = `pv-example-${name}`;
    const header = protectedHeader(exports.get(name)!, `_sigs/${pn}.json`);
    expect(header.typ).toBe("PVS");
    expect(header.pvs).toEqual(SIGNS_AS(pn));
  });

  it("pv-example-device-config: device.json signed as the recipe's `pvr sig add --raw device-config --include device.json`", () => {
    const text = readFileSync(DEVICE_RECIPE, "utf8");
    expect(text).toContain('pvr sig add -n --raw device-config --include "device.json"');
    const exp = exports.get("device-config")!;
    expect(Object.keys(exp.state).sort()).toEqual(["#spec", "_sigs/device-config.json", "device.json"]);
    expect(exp.state["device.json"]).toEqual(JSON.parse(readFileSync(join(REPO, "containers", "device-config", "device.json"), "utf8")));
    expect((protectedHeader(exp, "_sigs/device-config.json").pvs as JsonObject).include).toEqual(["device.json"]);
  });
});
