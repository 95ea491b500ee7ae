// What BitBake would hand to container-pvrexport for our container recipes, computed by running the
// class's own Python (bitbake/classes/pv-example-node.bbclass) in test/support/bbclass.py, a small
// stand-in for BitBake's datastore: BitBake itself is not packaged for Debian 12.
import { spawnSync } from "node:child_process";
import { join } from "node:path";

export type BitbakeVars = Record<
  "PN" | "PV_EXAMPLE_PROGRAM" | "PV_EXAMPLE_FILES" | "PV_EXAMPLE_PACKAGES" | "PV_EXAMPLE_ADDONS" | "PVRIMAGE_AUTO_MDEV" | "PVR_APP_ADD_GROUP" | "PVR_APP_ADD_EXTRA_ARGS" | "IMAGE_INSTALL" | "SRC_URI" | "PV_EXAMPLE_MISSING",
  string
>;

/** The variables of each recipe, with `root` as PV_EXAMPLES_ROOT (the repository, or a test's copy). */
export function bitbakeVars(root: string, recipeFiles: string[]): BitbakeVars[] {
  const result = spawnSync("python3", [join(__dirname, "bbclass.py"), root, ...recipeFiles], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`bbclass.py failed: ${result.stderr || result.error?.message}`);
  return JSON.parse(result.stdout) as BitbakeVars[];
}
