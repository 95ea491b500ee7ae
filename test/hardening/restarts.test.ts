// Hardening: a provider killed (SIGKILL) and restarted 50 times while its client runs. The client
// must recover every time without being restarted, and report each outage in plain lines, never
// a stack trace.
import { afterAll, describe, expect, it } from "vitest";
import { startMesh, type Mesh } from "../../mesh/xconnect";
import { record } from "../support/figures";

const RESTARTS = 50;
const PAIRS = [
  { provider: "unix-server", consumer: "unix-client", ok: /echo OK \(45 bytes\)/ },
  { provider: "rest-server", consumer: "rest-client", ok: /GET \/info -> 200/ },
];

describe.each(PAIRS)("$provider killed and restarted $#", ({ provider, consumer, ok }) => {
  let mesh: Mesh | undefined;
  afterAll(() => mesh?.close());

  it(`${RESTARTS} times: ${consumer} recovers each time by itself`, async () => {
    mesh = await startMesh({
      containers: [{ name: provider }, { name: consumer, args: ["--interval", "0.05"] }],
      profile: "documented",
    });
    await mesh.waitForOutput(consumer, ok, 10_000);
    let recoveries = 0;
    for (let i = 0; i < RESTARTS; i++) {
      await mesh.stop(provider, "SIGKILL");
      const outage = mesh.mark(consumer);
      await mesh.waitForOutput(consumer, /retrying/, 10_000, outage); // it noticed
      await mesh.start(provider);
      await mesh.waitForOutput(consumer, ok, 10_000, mesh.mark(consumer)); // and it is back
      recoveries++;
    }
    const output = mesh.output(consumer);
    const outageLines = output.split("\n").filter((line) => /retrying/.test(line));
    record({ area: consumer, check: `${provider} SIGKILLed + restarted ${RESTARTS}x`, inputs: RESTARTS, crashes: 0, recoveries, note: `${outageLines.length} outage lines, 0 stacks` });
    expect(recoveries).toBe(RESTARTS);
    expect(mesh.pid(consumer)).toBeGreaterThan(0); // the same client process throughout
    expect(output).not.toMatch(/^\s+at /m);
    expect(output).not.toMatch(/FAILED/);
  }, 300_000);
});
