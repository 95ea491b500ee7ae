// The real libdrm addon on this machine (no DRM device needed): clean errno errors and no crash
// on bad arguments. It runs in a child process, loading the drm.node that the build copied beside
// the drm-master bundle, so that a crash would show as a signal instead of taking vitest down.
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { join, resolve } from "node:path";
import { expect, test } from "vitest";

const ADDON = join(resolve(__dirname, ".."), "dist", "drm-master", "drm.node");

// Each probe calls the addon and reports what was thrown, as JSON, one per line.
const PROBES = `
const drm = require(${JSON.stringify(ADDON)});
const fs = require("node:fs");
const nullFd = fs.openSync("/dev/null", "r+");
const probes = {
  missingNode: () => drm.open("/nonexistent/dri/card0"),
  pathNotString: () => drm.open(42),
  negativeFd: () => drm.getVersion(-1),
  fractionalFd: () => drm.getVersion(1.5),
  closedFd: () => drm.getVersion(987654),
  notDrm: () => drm.getVersion(nullFd),
  capOnNotDrm: () => drm.getCap(nullFd, 1),
  setMasterNotDrm: () => drm.setMaster(nullFd),
  resourcesNotDrm: () => drm.getResources(nullFd),
  dumbNotDrm: () => drm.createDumb(nullFd, 64, 64, 32),
  setCrtcNoArgs: () => drm.setCrtc(nullFd),
  setCrtcBadMode: () => drm.setCrtc(nullFd, 1, 1, 0, 0, [1], { name: "x" }),
  unmapForeign: () => drm.unmapDumb(new ArrayBuffer(16)),
  unmapNothing: () => drm.unmapDumb("x"),
  mapZero: () => drm.mapDumb(nullFd, 1, 0),
};
for (const [name, probe] of Object.entries(probes)) {
  try {
    probe();
    console.log(JSON.stringify({ name, threw: false }));
  } catch (error) {
    console.log(JSON.stringify({ name, threw: true, type: error.constructor.name, message: error.message, code: error.code, errno: error.errno }));
  }
}
`;

test("the addon turns every failure into an Error with the errno name, and bad arguments into TypeErrors", () => {
  const result = spawnSync(process.execPath, ["-e", PROBES], { encoding: "utf8", timeout: 20_000 });
  expect(result.signal).toBeNull();
  expect(result.stderr).toBe("");
  expect(result.status).toBe(0);
  type Outcome = { threw: boolean; type?: string; message?: string; code?: string; errno?: number };
  const outcomes: Record<string, Outcome> = Object.fromEntries(result.stdout.trim().split("\n").map((line) => {
    const { name, ...rest } = JSON.parse(line) as Outcome & { name: string };
    return [name, rest];
  }));
  expect(outcomes.missingNode).toEqual({ threw: true, type: "Error", message: "cannot open /nonexistent/dri/card0: ENOENT", code: "ENOENT", errno: 2 });
  expect(outcomes.closedFd).toMatchObject({ type: "Error", message: "cannot get driver version: EBADF", code: "EBADF" });
  expect(outcomes.notDrm).toMatchObject({ type: "Error", code: "ENOTTY" });
  for (const name of ["capOnNotDrm", "setMasterNotDrm", "resourcesNotDrm", "dumbNotDrm"]) {
    expect(outcomes[name], name).toMatchObject({ threw: true, type: "Error" });
    expect(outcomes[name].message, name).toMatch(/^cannot .+: E[A-Z]+$/);
  }
  for (const name of ["pathNotString", "negativeFd", "fractionalFd", "setCrtcNoArgs", "setCrtcBadMode", "unmapForeign", "unmapNothing", "mapZero"]) {
    expect(outcomes[name], name).toMatchObject({ threw: true, type: "TypeError" });
  }
  expect(outcomes.unmapForeign.message).toBe("buffer is not a live mapping from mapDumb");
});

test("drm-provider on a machine without DRM reports each node missing and still serves until SIGTERM", async () => {
  const child = spawn(process.execPath, [join(resolve(__dirname, ".."), "dist", "drm-provider", "main.js"),
    "--master", "/nonexistent/dri/card0", "--render", "/nonexistent/dri/renderD128"]);
  let out = "";
  const serving = new Promise<void>((resolveServing) => child.stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString();
    if (out.includes("serving until SIGTERM")) resolveServing();
  }));
  try {
    await serving;
    expect(out).toContain("drm-master: /nonexistent/dri/card0: missing (ENOENT)");
    expect(out).toContain("drm-render: /nonexistent/dri/renderD128: missing (ENOENT)");
    expect(out).toContain("0 of 2 nodes present");
    child.kill("SIGTERM");
    const [code] = (await once(child, "close")) as [number | null];
    expect(code).toBe(0);
    expect(out).toContain("SIGTERM received, exiting");
  } finally {
    child.kill("SIGKILL");
  }
});
