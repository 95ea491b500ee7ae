// vitest globalSetup: build every bundle once before any test file runs, and after the run print
// the hardening figures that the suites recorded. A program that fails to build loses its bundle
// (its tests then fail on the missing file) without stopping the others; `npm test` has already
// run the strict build, so this only matters when vitest is run by hand.
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { figuresTable, resetFigures } from "./figures";
import { recordedSkips, resetSkips } from "./skips";

export default function setup(): () => void {
  const result = spawnSync(process.execPath, ["scripts/build.mjs", "--keep-going"], { stdio: ["ignore", "ignore", "inherit"] });
  if (result.status !== 0) process.stderr.write("globalSetup: some bundles failed to build (see above)\n");
  resetFigures();
  resetSkips();
  return () => {
    const skips = recordedSkips();
    if (skips.length > 0) {
      process.stdout.write(`\nSkipped here (${skips.length} group${skips.length === 1 ? "" : "s"}), and why:\n${skips.map((s) => `  ${s.file}: ${s.group}: ${s.reason}`).join("\n")}\n`);
    }
    const table = figuresTable();
    if (table === "") return;
    writeFileSync(join(__dirname, "..", "..", "results", "hardening.md"), table + "\n");
    process.stdout.write(`\nHardening summary (results/hardening.md):\n\n${table}\n\n`);
  };
}
