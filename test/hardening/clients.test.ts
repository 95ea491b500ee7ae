// Hardening: the periodic clients over rounds of exchanges, ticking every 20 ms against their real
// provider. A client runs for months on a device, one exchange every few seconds: its memory must
// not grow with the exchanges. V8 keeps the heap it grew to, so RSS is compared between later
// rounds, as the other leak checks do. This also keeps the young-generation fix (shared/client.ts,
// keepYoungGenerationSmall): without it dbus-client grew by about 30 MB within 1,000 exchanges.
import { cpSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { ChildProgram } from "../../mesh/process";
import { onPath } from "../../mesh/process";
import { REPO, run, stopAll, tempDir } from "../support/bundles";
import { daemonPids } from "../support/dbus";
import { record, rssMb } from "../support/figures";
import { skipUnless } from "../support/skips";

const ROUNDS = 5;
const EXCHANGES_PER_ROUND = 200;
const FAST = ["--interval", "0.02"];
const ROUND_TIMEOUT_MS = 60_000;
/** Growth allowed between the end of round 2 and the end of the last one (a collector's sawtooth is a few MB). */
const GROWTH_LIMIT_MB = 8;

const dirs: ReturnType<typeof tempDir>[] = [];
afterAll(async () => {
  await stopAll();
  for (const dir of dirs.splice(0)) {
    for (const pid of daemonPids(join(dir.path, "run/dbus/system_bus_socket"))) process.kill(pid, "SIGKILL");
    dir.remove();
  }
});

/** Resolves once `client` has printed `count` lines matching `exchange`. */
async function exchanges(client: ChildProgram, exchange: RegExp, count: number): Promise<void> {
  const deadline = Date.now() + ROUND_TIMEOUT_MS;
  const done = (): number => client.output().split("\n").filter((line) => exchange.test(line)).length;
  while (done() < count) {
    if (!client.running) throw new Error(`${client.options.name} exited:\n${client.output().split("\n").slice(-5).join("\n")}`);
    if (Date.now() > deadline) throw new Error(`${client.options.name}: ${done()} of ${count} exchanges within ${ROUND_TIMEOUT_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Rounds of exchanges; RSS of the client after each; the growth from round 2 to the last. */
async function checkRounds(name: string, client: ChildProgram, exchange: RegExp): Promise<void> {
  const rss: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    await exchanges(client, exchange, round * EXCHANGES_PER_ROUND);
    rss.push(Math.round(rssMb(client.pid) * 10) / 10);
  }
  const growth = Math.round((rss[ROUNDS - 1]! - rss[1]!) * 10) / 10;
  record({
    area: name, check: `${ROUNDS} rounds of ${EXCHANGES_PER_ROUND} exchanges, every 20 ms`, inputs: ROUNDS * EXCHANGES_PER_ROUND, crashes: client.running ? 0 : 1, leakMb: growth,
    note: `RSS ${rss.join(" / ")} MB after each round`,
  });
  expect(client.running).toBe(true);
  expect(growth).toBeLessThan(GROWTH_LIMIT_MB);
}

describe("periodic clients over rounds of exchanges", () => {
  it("unix-client: memory does not grow with the exchanges", async () => {
    const dir = tempDir("pv-harden-clients-");
    dirs.push(dir);
    const socket = join(dir.path, "raw.sock");
    await run("unix-server", { args: ["--socket", socket] }).waitForOutput(/echoing on/);
    await checkRounds("unix-client", run("unix-client", { args: ["--socket", socket, ...FAST] }), /echo OK/);
  }, ROUNDS * ROUND_TIMEOUT_MS);

  it("rest-client: memory does not grow with the exchanges", async () => {
    const dir = tempDir("pv-harden-clients-");
    dirs.push(dir);
    const socket = join(dir.path, "api.sock");
    await run("rest-server", { args: ["--socket", socket] }).waitForOutput(/serving GET \/info/);
    await checkRounds("rest-client", run("rest-client", { args: ["--socket", socket, ...FAST] }), /GET \/info -> 200/);
  }, ROUNDS * ROUND_TIMEOUT_MS);

  const canRunDbus = process.getuid?.() === 0 && onPath("dbus-daemon");
  const DBUS = "dbus-client over rounds of exchanges";
  it.skipIf(skipUnless(canRunDbus, DBUS, "needs root and dbus-daemon (the seed's policy lets only root own org.pantavisor.Example)"))(
    "dbus-client: memory does not grow with the exchanges",
    async () => {
      const root = tempDir("pv-harden-clients-");
      dirs.push(root);
      cpSync(join(REPO, "containers", "dbus-server", "rootfs"), root.path, { recursive: true });
      await run("dbus-server", { env: { PV_ROOT: root.path } }).waitForOutput(/serves GetInfo/);
      const socket = join(root.path, "run/dbus/system_bus_socket");
      await checkRounds("dbus-client", run("dbus-client", { args: ["--socket", socket, "--role", "root", ...FAST] }), /the bus authenticated this connection/);
    },
    ROUNDS * ROUND_TIMEOUT_MS,
  );
});
