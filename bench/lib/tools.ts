// The baselines' programs and the system tools the rows need, found once.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { onPath } from "../../mesh/process";

/**
 * Debian's interpreter, not whatever `python3` is first on PATH: python3-dbus and python3-gi are
 * installed for /usr/bin/python3, and a pyenv or venv python3 would not see them.
 */
export const PYTHON = "/usr/bin/python3";

/** A baseline program's source: bench/baselines/<file>. */
export function baseline(repo: string, file: string): string {
  return join(repo, "bench", "baselines", file);
}

/** Null when `command` is on PATH (or an executable path), else why it is missing. */
export function missing(command: string, packageName: string): string | null {
  return onPath(command) ? null : `${command} not found (apt-get install ${packageName})`;
}

/** Null when Debian's python3 can import `module`, else why not. */
export function missingPythonModule(module: string, packageName: string): string | null {
  const found = spawnSync(PYTHON, ["-c", `import ${module}`], { stdio: "ignore" }).status === 0;
  return found ? null : `${PYTHON} cannot import ${module} (apt-get install ${packageName})`;
}
