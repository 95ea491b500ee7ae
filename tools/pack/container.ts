// The packaging facts of one container folder: containers/<name>/container.json. It is the one
// place they are written; `npm run pack` reads it here, and the BitBake class
// (bitbake/classes/pv-example-node.bbclass) reads the same file at parse time, so a packed export
// and a recipe-built one are made from the same list.
//
//   {
//     "program": "dbus-server",                 the bundle: dist/<program>/main.js
//     "files": ["services.json", "rootfs/etc/passwd"],
//                                               manifests (args.json, services.json, config.json,
//                                               mdev.json, network.json) and rootfs/<path> files
//     "packages": [{ "yocto": "dbus", "debian": ["dbus-daemon"] }],
//                                               extra packages: the Yocto name for the recipe, the
//                                               Debian packages pack takes from this host, and
//                                               optionally "skip": Debian files pack leaves out
//                                               (globs; what the Yocto package does not ship, such
//                                               as Weston's RDP backend and demo clients)
//     "addons": ["libdrm"],                     native/<lib> addons, linked beside the bundle
//     "autoMdev": true                          a catch-all mdev rule (default: none)
//   }
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const MANIFESTS = ["args.json", "services.json", "config.json", "mdev.json", "network.json"] as const;
export type Manifest = (typeof MANIFESTS)[number];

export interface PackageFact {
  /** The package name IMAGE_INSTALL takes. */
  yocto: string;
  /** The Debian packages whose files pack copies from this host (libraries come by ldd). */
  debian: string[];
  /** Globs of Debian files to leave out (`*` stays within one path segment). */
  skip: string[];
}

export interface ContainerFacts {
  /** The folder under containers/: the container is pv-example-<name>. */
  name: string;
  program: string;
  /** Paths relative to containers/<name>/. */
  files: string[];
  packages: PackageFact[];
  addons: string[];
  autoMdev: boolean;
}

/** A container.json that cannot be used, with the file and field it is about. */
export class FactsError extends Error {
  constructor(file: string, field: string, problem: string) {
    super(`${file}: ${field ? `${field}: ` : ""}${problem}`);
    this.name = "FactsError";
  }
}

function stringList(value: unknown, file: string, field: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string" && item !== "")) {
    throw new FactsError(file, field, "must be a list of non-empty strings");
  }
  return value as string[];
}

/** The container folders pack and the layer package: those with a container.json. */
export function containerNames(repo: string): string[] {
  return readdirSync(join(repo, "containers"))
    .filter((name) => existsSync(join(repo, "containers", name, "container.json")))
    .sort();
}

/** Reads and checks containers/<name>/container.json; every file it lists must exist. */
export function loadFacts(repo: string, name: string): ContainerFacts {
  const dir = join(repo, "containers", name);
  const file = `containers/${name}/container.json`;
  if (!existsSync(join(dir, "container.json"))) throw new FactsError(file, "", "missing (every packaged container has one)");
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(join(dir, "container.json"), "utf8"));
  } catch (error) {
    throw new FactsError(file, "", `invalid JSON (${(error as Error).message})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new FactsError(file, "", "must be a JSON object");
  const facts = json as Record<string, unknown>;
  const known = ["program", "files", "packages", "addons", "autoMdev"];
  for (const key of Object.keys(facts)) if (!known.includes(key)) throw new FactsError(file, key, `unknown field (known: ${known.join(", ")})`);

  if (typeof facts.program !== "string" || facts.program === "") throw new FactsError(file, "program", "must name the program (a folder with main.ts)");
  if (!existsSync(join(repo, "containers", facts.program, "main.ts"))) throw new FactsError(file, "program", `no program containers/${facts.program}/main.ts`);

  const files = stringList(facts.files, file, "files");
  for (const path of files) {
    if (!(MANIFESTS as readonly string[]).includes(path) && !path.startsWith("rootfs/")) {
      throw new FactsError(file, "files", `"${path}" is neither a manifest (${MANIFESTS.join(", ")}) nor under rootfs/`);
    }
    if (path.split("/").includes("..")) throw new FactsError(file, "files", `"${path}" leaves the folder`);
    if (!existsSync(join(dir, path))) throw new FactsError(file, "files", `containers/${name}/${path} does not exist`);
  }

  if (facts.packages !== undefined && !Array.isArray(facts.packages)) throw new FactsError(file, "packages", "must be a list");
  const packages = ((facts.packages ?? []) as unknown[]).map((entry, i): PackageFact => {
    const field = `packages[${i}]`;
    if (typeof entry !== "object" || entry === null) throw new FactsError(file, field, 'must be {"yocto": NAME, "debian": [NAME...]}');
    const { yocto, debian, skip, ...rest } = entry as Record<string, unknown>;
    if (Object.keys(rest).length > 0) throw new FactsError(file, `${field}.${Object.keys(rest)[0]}`, "unknown field (known: yocto, debian, skip)");
    if (typeof yocto !== "string" || yocto === "") throw new FactsError(file, `${field}.yocto`, "must be the Yocto package name");
    const debianNames = stringList(debian, file, `${field}.debian`);
    if (debianNames.length === 0) throw new FactsError(file, `${field}.debian`, "must list at least one Debian package");
    const skipGlobs = stringList(skip, file, `${field}.skip`);
    for (const glob of skipGlobs) if (!glob.startsWith("/")) throw new FactsError(file, `${field}.skip`, `"${glob}" must be an absolute path glob`);
    return { yocto, debian: debianNames, skip: skipGlobs };
  });

  const addons = stringList(facts.addons, file, "addons");
  for (const lib of addons) {
    if (!existsSync(join(repo, "native", lib, "binding.gyp"))) throw new FactsError(file, "addons", `no addon native/${lib}/binding.gyp`);
  }
  if (facts.autoMdev !== undefined && typeof facts.autoMdev !== "boolean") throw new FactsError(file, "autoMdev", "must be true or false");

  return { name, program: facts.program, files, packages, addons, autoMdev: facts.autoMdev === true };
}

/** binding.gyp's target_name: the loader requires "<target>.node" beside the bundle. */
export function addonTarget(repo: string, lib: string): string {
  // binding.gyp is Python-literal JSON with # comments.
  const gyp = JSON.parse(readFileSync(join(repo, "native", lib, "binding.gyp"), "utf8").replace(/^\s*#.*$/gm, "")) as { targets: { target_name: string }[] };
  return gyp.targets[0].target_name;
}
