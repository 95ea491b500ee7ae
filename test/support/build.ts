// vitest globalSetup: build every bundle once before any test file runs. A program that fails to
// build loses its bundle (its tests then fail on the missing file) without stopping the others;
// `npm test` has already run the strict build, so this only matters when vitest is run by hand.
import { spawnSync } from "node:child_process";

export default function setup(): void {
  const result = spawnSync(process.execPath, ["scripts/build.mjs", "--keep-going"], { stdio: ["ignore", "ignore", "inherit"] });
  if (result.status !== 0) process.stderr.write("globalSetup: some bundles failed to build (see above)\n");
}
