// The project's main job: the demo runs the whole local mesh and stops cleanly by itself, and the
// README's "Expected output" blocks are what it really prints, for every pattern this user can run
// (the demo says which ones run: D-Bus needs root, DRM needs /dev/dri nodes).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ChildProgram } from "../mesh/process";
import { REPO } from "./support/bundles";

/** Lines as comparable text: timestamps and the temp directory's random name differ on every run. */
function normalise(line: string): string {
  return line
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, "<time>")
    .replace(/\S*\/pv-mesh-[A-Za-z0-9]{6}\//g, "<workdir>/")
    .trimEnd();
}

/** Each `<!-- expected-output: PATTERN -->` block of README.md, by pattern name. */
function readmeExpected(): Map<string, string[]> {
  const readme = readFileSync(join(REPO, "README.md"), "utf8");
  const blocks = [...readme.matchAll(/<!-- expected-output: (.+?) -->\n```text\n([\s\S]*?)```/g)];
  return new Map(blocks.map((block) => [block[1]!, block[2]!.trimEnd().split("\n")]));
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
    expect(output).toMatch(/\[unix-client\] \S+ echo OK \(45 bytes\): Hello from client at/);
    const role = profile === "documented" ? '"role":"any","client":"rest-client"' : '"role":"unknown","client":"unknown"';
    expect(output).toContain(`GET /info -> 200 {"service":"rest-example","status":"active",${role}}`);
    expect(output).toMatch(/\ndone$/);
    // Nothing is linked for a pattern that was left out: no link attempt fails.
    expect(output).not.toMatch(/cannot link/);

    if (profile === "documented") {
      const running = [...output.matchAll(/^(.+): running$/gm)].map((match) => match[1]!);
      const skipped = [...output.matchAll(/^(.+): skipped \((.+)\)$/gm)].map((match) => match[1]!);
      const expected = readmeExpected();
      // Every README block names a pattern the demo knows, and every pattern either ran or said why not.
      expect([...expected.keys()].filter((name) => !running.includes(name) && !skipped.includes(name))).toEqual([]);
      expect(running).toContain("unix socket");
      const printed = new Set(output.split("\n").map(normalise));
      for (const name of running) {
        for (const line of expected.get(name) ?? []) expect(printed, `README line (${name}) not printed by the demo: ${line}`).toContain(normalise(line));
      }
    }
  });
});
