// Hardening: the REST server against >= 5,000 malformed or hostile requests and 1,000 concurrent
// connections. Every answer must be a well-formed HTTP response (an error status for anything
// malformed) or a clean close; the server must stay up, keep answering GET /info, and give its
// memory back.
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChildProgram } from "../../mesh/process";
import { run, stopAll, tempDir } from "../support/bundles";
import { record, rssMb } from "../support/figures";
import { openSocket } from "../support/net";

const VALID = "GET /info HTTP/1.1\r\nHost: localhost\r\n\r\n";

/** A small deterministic PRNG, so that a failure can be replayed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}
const random = prng(20261130);
const int = (n: number): number => Math.floor(random() * n);
const pick = <T>(list: readonly T[]): T => list[int(list.length)]!;
const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)));

interface Attack {
  /** What is sent, chunk by chunk (a delay in ms before each chunk when `dribbleMs` is set). */
  chunks: Buffer[];
  dribbleMs?: number;
  /** Close abruptly after sending instead of waiting for the answer. */
  vanish?: boolean;
  /** How many leading responses may be 2xx (the valid request in front of pipelined garbage). */
  validFirst?: number;
}

const CATEGORIES: Record<string, { count: number; make(): Attack }> = {
  "random bytes": { count: 1000, make: () => ({ chunks: [bytes(1 + int(2000))] }) },
  "truncated request": { count: 800, make: () => ({ chunks: [Buffer.from(VALID.slice(0, 1 + int(VALID.length - 2)))] }) },
  "invalid method": {
    count: 400,
    make: () => ({ chunks: [Buffer.from(`${pick(["G\u0000T", "GET\t", "FOO", "get", "PRI", "GE T", "\u00ffGET", "CONNECTX"])} /info HTTP/1.1\r\nHost: x\r\n\r\n`, "latin1")] }),
  },
  "oversize header": {
    count: 200,
    make: () =>
      random() < 0.5
        ? { chunks: [Buffer.from(`GET /info HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(17_000 + int(50_000))}\r\n\r\n`)] }
        : { chunks: [Buffer.from(`GET /info HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 3000 }, (_, i) => `X-H${i}: v`).join("\r\n")}\r\n\r\n`)] },
  },
  "oversize body": {
    count: 200,
    make: () =>
      random() < 0.5
        ? { chunks: [Buffer.from(`POST /info HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n`), bytes(100_000)] }
        : { chunks: [Buffer.from(`POST /admin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${"8000\r\n" + "x".repeat(0x8000) + "\r\n"}`.repeat(1))] },
  },
  "bad encoding": {
    count: 600,
    make: () => ({
      chunks: [Buffer.concat([Buffer.from(`GET /${pick(["info%zz", "%00", "info%", "%c0%af", "in\u00fffo"])}`, "latin1"), bytes(int(4)), Buffer.from(` HTTP/1.1\r\nHost: x\r\nX-PV-Role: `), bytes(1 + int(8)), Buffer.from("\r\n\r\n")])],
    }),
  },
  "CR/LF header injection": {
    count: 600,
    make: () => ({
      chunks: [Buffer.from(`GET /info HTTP/1.1\r\nHost: x\r\nX-PV-Role: ${pick(["admin\rX-Evil: 1", "admin\nX-PV-Client: root", "a\u0000b", "x\r\n folded"])}\r\n${pick(["Bad Name: v\r\n", " X-Lead: v\r\n", "X:\r\n", ""])}\r\n`, "latin1")],
    }),
  },
  "pipelined garbage": {
    count: 600,
    make: () => ({ chunks: [Buffer.concat([Buffer.from(VALID), bytes(1 + int(500))])], validFirst: 1 }),
  },
  "request smuggling": {
    count: 400,
    make: () => ({
      chunks: [
        Buffer.from(
          pick([
            "POST /info HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "POST /info HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            "POST /info HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
            "GET /info HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
            "GET /info HTTP/9.9\r\nHost: x\r\n\r\n",
          ]),
        ),
      ],
      validFirst: 0,
    }),
  },
  "vanishing client": { count: 200, make: () => ({ chunks: [Buffer.from(VALID.slice(0, 1 + int(VALID.length - 2)))], vanish: true }) },
  "slow sender": { count: 20, make: () => ({ chunks: [...Buffer.from(VALID)].map((b) => Buffer.from([b])), dribbleMs: 5, validFirst: 1 }) },
};

type Outcome = "responses" | "closed" | "malformed" | "hung" | "2xx for garbage";

/** Sends one attack on its own connection and classifies what came back. */
function attack(path: string, a: Attack): Promise<Outcome> {
  return new Promise((resolve) => {
    const received: Buffer[] = [];
    const socket = connect(path);
    const timer = setTimeout(() => finish("hung"), 5000);
    let done = false;
    function finish(outcome?: Outcome): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (outcome) return resolve(outcome);
      const text = Buffer.concat(received).toString("latin1");
      if (text === "") return resolve("closed");
      const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
      if (!text.startsWith("HTTP/1.1 ") || statuses.length === 0) return resolve("malformed");
      if (statuses.slice(a.validFirst ?? 0).some((s) => s < 400)) return resolve("2xx for garbage");
      resolve("responses");
    }
    socket.on("data", (chunk: Buffer) => received.push(chunk));
    socket.on("error", () => finish()); // a reset after (or instead of) an answer is still a close
    socket.on("close", () => finish());
    socket.on("connect", async () => {
      for (const chunk of a.chunks) {
        if (a.dribbleMs) await new Promise((r) => setTimeout(r, a.dribbleMs));
        if (socket.destroyed) return;
        socket.write(chunk);
      }
      if (a.vanish) return finish("closed");
      socket.end();
    });
  });
}

/** Runs `tasks` with at most `limit` in flight. */
async function pool<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < tasks.length) {
        const i = next++;
        results[i] = await tasks[i]!();
      }
    }),
  );
  return results;
}

/** GET /info on an open connection; resolves with the status once the server closes it. */
function requestOn(socket: Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    let text = "";
    socket.setEncoding("latin1").on("data", (chunk: string) => (text += chunk));
    socket.on("end", () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
    socket.on("error", reject);
    socket.end("GET /info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  });
}

function getInfo(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(path, () => socket.end("GET /info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    let text = "";
    socket.setEncoding("latin1").on("data", (chunk: string) => (text += chunk));
    socket.on("end", () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
    socket.on("error", reject);
  });
}

describe("rest-server under hostile input", () => {
  const dir = tempDir("pv-harden-rest-");
  const path = join(dir.path, "api.sock");
  let server: ChildProgram;
  let rssBefore = 0;
  const tally = { inputs: 0, crashes: 0 };

  beforeAll(async () => {
    server = run("rest-server", { args: ["--socket", path] });
    await server.waitForOutput(/serving GET \/info/);
    await pool(Array.from({ length: 200 }, () => () => getInfo(path)), 20); // warm up before measuring
    rssBefore = rssMb(server.pid);
  });
  afterAll(async () => {
    await stopAll();
    dir.remove();
  });

  it.each(Object.keys(CATEGORIES))("%s: well-formed error answers or clean closes; still serving", async (name) => {
    const { count, make } = CATEGORIES[name]!;
    const outcomes = await pool(Array.from({ length: count }, () => () => attack(path, make())), 32);
    tally.inputs += count;
    const counts: Record<string, number> = {};
    for (const o of outcomes) counts[o] = (counts[o] ?? 0) + 1;
    expect(server.running, server.output()).toBe(true);
    expect(await getInfo(path)).toBe(200);
    expect(counts, JSON.stringify(counts)).not.toHaveProperty("malformed");
    expect(counts, JSON.stringify(counts)).not.toHaveProperty("hung");
    expect(counts, JSON.stringify(counts)).not.toHaveProperty("2xx for garbage");
  });

  it("1,000 concurrent connections are all answered", async () => {
    // Connect all of them first (in waves, so the listen backlog is not the thing under test),
    // then send every request at once while all 1,000 are open.
    const sockets: Socket[] = [];
    for (let wave = 0; wave < 10; wave++) {
      sockets.push(...(await Promise.all(Array.from({ length: 100 }, () => openSocket(path)))));
    }
    const statuses = await Promise.all(sockets.map((socket) => requestOn(socket)));
    expect(statuses.filter((s) => s === 200)).toHaveLength(1000);
    tally.inputs += 1000;
  });

  it("the process never crashed, and more rounds of hostile input do not grow its memory further", async () => {
    expect(tally.inputs).toBeGreaterThanOrEqual(6000);
    expect(server.running).toBe(true);
    // V8 keeps the heap it grew to, so RSS need not fall back to where it started; what must not
    // happen is growth with every round (a leak). Two more rounds of every kind, compared.
    const rssAfterRound: number[] = [];
    for (let round = 0; round < 2; round++) {
      for (const { count, make } of Object.values(CATEGORIES)) {
        await pool(Array.from({ length: count }, () => () => attack(path, make())), 32);
        tally.inputs += count;
      }
      await new Promise((r) => setTimeout(r, 500));
      rssAfterRound.push(rssMb(server.pid));
    }
    const growth = Math.round((rssAfterRound[1]! - rssAfterRound[0]!) * 10) / 10;
    record({
      area: "rest-server", check: "hostile requests (11 kinds, 3 rounds) + 1,000 concurrent", inputs: tally.inputs, crashes: server.running ? 0 : 1, leakMb: growth,
      note: `RSS ${rssBefore} MB warmed up, ${rssAfterRound.join(" / ")} MB after rounds 2-3`,
    });
    expect(server.running).toBe(true);
    expect(await getInfo(path)).toBe(200);
    expect(growth).toBeLessThan(15);
  });
});
