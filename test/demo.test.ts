// The project's main job: the demo runs the whole local mesh and stops cleanly by itself, and the
// README's "Expected output" blocks are what it really prints.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ChildProgram } from "../mesh/process";
import { REPO } from "./support/bundles";

/** Lines as comparable text: no timestamps, no temp-dir names, no column padding in the name prefix. */
function normalise(line: string): string {
  return line
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, "<time>")
    .replace(/\S*\/pv-mesh-[A-Za-z0-9]{6}\//g, "<workdir>/")
    .replace(/^\[(\S+)\s*\]/, "[$1]")
    .trimEnd();
}

/** The lines of every ```text block that follows an `<!-- expected-output -->` marker in README.md. */
function readmeExpectedLines(): string[] {
  const readme = readFileSync(join(REPO, "README.md"), "utf8");
  const blocks = [...readme.matchAll(/<!-- expected-output -->\n```text\n([\s\S]*?)```/g)];
  return blocks.flatMap((block) => block[1]!.trimEnd().split("\n"));
}

async function runDemo(profile: string): Promise<string> {
  const demo = new ChildProgram({ name: "demo", bundle: join(REPO, "dist", "mesh", "demo.js"), args: ["--profile", profile, "--duration", "8"] });
  demo.start();
  const exit = await demo.exited();
  expect(exit, demo.output()).toEqual({ code: 0, signal: null });
  return demo.output();
}

describe.each(["documented", "master"])("demo --profile %s", (profile) => {
  it("shows the graph, an echo and a REST reply, and exits 0 after --duration", async () => {
    const output = await runDemo(profile);
    expect(output).toMatch(/^consumer\s+consumer_pid\s+provider\s+provider_pid/m);
    expect(output).toMatch(/\[unix-client\s*\] \S+ echo OK \(45 bytes\): Hello from client at/);
    const role = profile === "documented" ? '"role":"any","client":"rest-client"' : '"role":"unknown","client":"unknown"';
    expect(output).toContain(`GET /info -> 200 {"service":"rest-example","status":"active",${role}}`);
    expect(output).toMatch(/\ndone$/);

    if (profile === "documented") {
      const printed = new Set(output.split("\n").map(normalise));
      const expected = readmeExpectedLines();
      expect(expected.length).toBeGreaterThan(0);
      for (const line of expected) expect(printed, `README line not printed by the demo: ${line}`).toContain(normalise(line));
    }
  });
});
