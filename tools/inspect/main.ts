// inspect: checks and explains a .pvrexport.tgz, the file the Yocto recipes deploy to
// deploy/images/<machine>/ and that you copy into pvtx.d/. It replaces the seed's "Inspect
// pvrexport" steps (tar -x, jq, base64 -d) with checks that can fail:
//   - the first member is `json`, a state with #spec pantavisor-service-system@1;
//   - every other member is objects/<sha256> and its content hashes to that name;
//   - every sha256 the state names has its object;
// then prints each container's run.json essentials (group, entrypoint, services required), its
// services.json, whether it has a console (its output reaches console.log only then), and each
// _sigs/*.json protected header (alg, key, include/exclude).
//
// Run:  node dist/inspect/main.js FILE.pvrexport.tgz [--verify] [--ca CA.pem]
//       --verify checks each signature with the key in its header (x5c, else jwk);
//       --ca also requires the x5c chain to lead to a certificate in CA.pem.
// Exit: 0 consistent (and verified, when asked), 1 problems found, 2 bad usage or not a pvrexport.
//
// Simplified: reads the whole archive into memory (pvrexports of examples are a few MB).
import { readFileSync } from "node:fs";
import { parseCommandLine, UsageError } from "../../shared/cli";
import { reason } from "../../shared/log";
import { FatalError, runMain } from "../../shared/run";
import { PvrexportError, readPvrexport, verifySignature, type Json, type Pvrexport } from "./pvrexport";

function show(value: Json | null): string {
  return value === null ? "(none)" : JSON.stringify(value);
}

function report(file: string, archive: Pvrexport): string[] {
  const lines = [`pvrexport ${file}`];
  const entries = Object.keys(archive.state).length - 1;
  lines.push(`  state: ${archive.state["#spec"]}, ${entries} entries, ${archive.objects.size} objects`);
  for (const container of archive.containers) {
    lines.push(`container ${container.name}`);
    lines.push(`  group: ${container.group ?? "(not set)"}`);
    lines.push(`  entrypoint: ${container.entrypoint ?? "(not set)"}`);
    const required = container.required.map((r) => `${r.name} -> ${r.target ?? "(no target)"}`);
    lines.push(`  services required: ${required.length > 0 ? required.join(", ") : "(none)"}`);
    lines.push(`  services.json: ${show(container.services)}`);
    const console_ = container.console === null ? "(no lxc.container.conf)" : container.console ? `yes (its output reaches logs/<rev>/${container.name}/lxc/console.log)` : "none (lxc.console.path = none: its output reaches no log)";
    lines.push(`  console: ${console_}`);
  }
  for (const sig of archive.signatures) {
    lines.push(`signature ${sig.key}`);
    lines.push(`  alg: ${sig.alg ?? "(missing)"}  typ: ${sig.typ ?? "(missing)"}  key: ${sig.keySource ?? "(none)"}${sig.subject ? ` (${sig.subject})` : ""}`);
    lines.push(`  include: ${sig.include.join(" ") || "(default)"}`);
    lines.push(`  exclude: ${sig.exclude.join(" ") || "(default)"}`);
  }
  return lines;
}

async function main(): Promise<number> {
  const { values, positionals } = parseCommandLine({
    name: "inspect",
    summary: "Checks a .pvrexport.tgz (structure, object hashes, signatures) and prints what each container's state says.",
    options: {
      verify: { type: "boolean", help: "check each signature with the key in its header (x5c, else jwk)" },
      ca: { type: "string", value: "CA.pem", help: "also require each x5c chain to lead to a certificate in this file (implies --verify)" },
    },
    positionals: "FILE.pvrexport.tgz",
    notes: ["Exit codes: 0 consistent (and verified, when asked); 1 problems found; 2 bad usage, or not a pvrexport."],
    examples: ["inspect pvtx.d/pv-example-unix-server.pvrexport.tgz", "inspect --verify pvtx.d/pv-example-device-config.pvrexport.tgz"],
  });
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? "which file? (one FILE.pvrexport.tgz)" : `one file at a time, got ${positionals.length}`);
  const file = positionals[0]!;
  const verify = values.verify === true || values.ca !== undefined;

  let archive: Pvrexport;
  let caPem: string | undefined;
  try {
    archive = await readPvrexport(readFileSync(file), file);
    if (values.ca !== undefined) caPem = readFileSync(values.ca, "utf8");
  } catch (error) {
    if (error instanceof PvrexportError) throw new FatalError(error.message, 2);
    const path = values.ca !== undefined && (error as NodeJS.ErrnoException).path === values.ca ? values.ca : file;
    throw new FatalError(`cannot read ${path}: ${reason(error)}`, 2);
  }

  for (const line of report(file, archive)) console.log(line);
  const problems = [...archive.problems];
  if (verify) {
    if (archive.signatures.length === 0) problems.push("--verify given but the archive has no signature");
    for (const sig of archive.signatures) {
      const result = await verifySignature(archive.state, sig.key, caPem);
      console.log(`verify ${result.ok ? "OK" : "FAILED"}: ${result.detail}`);
      if (!result.ok) problems.push(result.detail);
    }
  }
  for (const problem of problems) console.log(`PROBLEM: ${problem}`);
  console.log(problems.length === 0 ? "OK: archive is consistent" : `FAILED: ${problems.length} problem(s)`);
  return problems.length === 0 ? 0 : 1;
}

if (require.main === module) runMain(main);
