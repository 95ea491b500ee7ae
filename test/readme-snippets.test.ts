// The README commands work when pasted: every fenced `sh`/`bash` block of README.md and of the
// per-folder READMEs runs here, as written, from the repo root, with bash -euo pipefail, and must
// exit 0 within its time. A comment right before a block can say more:
//   <!-- snippet: expect "echo OK (45 bytes)"; expect "..." -->   text its output must contain
//   <!-- snippet: needs root -->  or  needs weston / needs /dev/dri/card0   skipped (with that reason) otherwise
//   <!-- snippet: not run (why) -->   never run here; the reason is printed with the skips
// One change is made to a block before it runs: `/tmp/` becomes a scratch directory of this run, so
// that the root and the unprivileged CI runs, or two runs at once, never share a socket path.
// Background jobs a block leaves behind are killed with its process group.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { onPath } from "../mesh/process";
import { REPO, scratchDir, cleanUp } from "./support/bundles";
import { skipUnless } from "./support/skips";

const READMES = ["README.md", "bench/README.md", "bitbake/README.md", "containers/drm-master/README.md"];
const BLOCK_TIMEOUT_MS = 90_000;

interface Snippet {
  file: string;
  line: number;
  code: string;
  expects: string[];
  needs: string[];
  notRun: string | null;
}

function snippets(): Snippet[] {
  return READMES.filter((file) => existsSync(join(REPO, file))).flatMap((file) => {
    const text = readFileSync(join(REPO, file), "utf8");
    return [...text.matchAll(/(?:<!-- snippet: (.*?) -->\n)?```(?:sh|bash)\n([\s\S]*?)```/g)].map((match) => {
      const marker = match[1] ?? "";
      const notRun = /^not run \((.*)\)$/.exec(marker)?.[1] ?? null;
      const directives = notRun !== null ? [] : marker.split(";").map((d) => d.trim()).filter(Boolean);
      return {
        file,
        line: text.slice(0, match.index).split("\n").length,
        code: match[2]!,
        expects: directives.filter((d) => d.startsWith("expect ")).map((d) => JSON.parse(d.slice(7)) as string),
        needs: directives.filter((d) => d.startsWith("needs ")).map((d) => d.slice(6)),
        notRun,
      };
    });
  });
}

/** Why a need is not met here, or null when it is. */
function unmet(need: string): string | null {
  if (need === "root") return process.getuid?.() === 0 ? null : "needs root";
  if (need.startsWith("/")) return existsSync(need) ? null : `needs ${need}, which this machine does not have`;
  return onPath(need) ? null : `needs ${need}, which is not installed`;
}

function runBlock(code: string): Promise<{ status: number | null; output: string }> {
  const scratch = scratchDir("pv-snippet-");
  const script = code.replaceAll("/tmp/", `${scratch}/`);
  return new Promise((resolve) => {
    const child = spawn("bash", ["-euo", "pipefail", "-c", script], { cwd: REPO, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    const timer = setTimeout(() => {
      output += `\n(test: no exit within ${BLOCK_TIMEOUT_MS / 1000} s)`;
      process.kill(-child.pid!, "SIGKILL");
    }, BLOCK_TIMEOUT_MS);
    child.on("close", (status) => {
      clearTimeout(timer);
      try {
        process.kill(-child.pid!, "SIGKILL"); // what the block left in the background
      } catch {
        // the group is already empty
      }
      resolve({ status, output });
    });
  });
}

describe("README commands, pasted as written", () => {
  afterAll(cleanUp);
  for (const snippet of snippets()) {
    // Named after its first command that is not the build every block starts with.
    const commands = snippet.code.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
    const title = `${snippet.file}:${snippet.line}: ${commands.find((l) => l !== "npm run build") ?? commands[0] ?? ""}`;
    const why = snippet.notRun ?? snippet.needs.map(unmet).find((reason) => reason !== null) ?? null;
    it.skipIf(skipUnless(why === null, `snippet ${snippet.file}:${snippet.line}`, why ?? ""))(title, async () => {
      // These would reinstall node_modules or run the demo or the suite under the running suite.
      expect(snippet.code, "a block that runs npm ci, npm start, npm test or the full bench needs <!-- snippet: not run (why) -->").not.toMatch(/npm (ci|start|test)\b|npm run bench(?! -- --quick)/);
      const { status, output } = await runBlock(snippet.code);
      expect(status, output).toBe(0);
      for (const text of snippet.expects) expect(output, `expected "${text}" in the output`).toContain(text);
    }, BLOCK_TIMEOUT_MS + 10_000);
  }
});
