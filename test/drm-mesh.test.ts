// The drm type through the local mesh: the provider's device node appears in the consumer's root
// as a copy (same type and major:minor), and drm-render, which was waiting, opens it. The host has
// no DRM device, so the provider gets a copy of /dev/null: drm-render then fails on the driver
// question (ENOTTY), which proves it opened the injected node. Needs root (CAP_MKNOD).
import { execFileSync } from "node:child_process";
import { chmodSync, lstatSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, expect, test } from "vitest";
import { majorMinor } from "../mesh/types/drm";
import { startMesh, type Mesh } from "../mesh/xconnect";
import { skipUnless } from "./support/skips";

let mesh: Mesh | null = null;
afterEach(async () => {
  await mesh?.close();
  mesh = null;
});

test("a drm link copies the provider's node into the waiting consumer", async (context) => {
  const notRoot = "device injection needs root (CAP_MKNOD); run the tests as root to cover it";
  if (skipUnless(process.getuid?.() === 0, "drm link through the mesh", notRoot)) return context.skip(notRoot);
  mesh = await startMesh({
    containers: [{ name: "drm-provider" }, { name: "drm-render", args: ["--wait", "20"] }],
    profile: "master",
  });
  expect(mesh.graph().map((e) => [e.consumer, e.provider, e.name, e.type, e.target, e.socket])).toEqual([
    ["drm-render", "drm-provider", "drm-render", "drm", "/dev/dri/renderD128", "/dev/dri/renderD128"],
  ]);
  // Nothing to copy yet: the provider's root has no node. Give it one, as its mdev rules would on
  // a device, and restart it: a new pid makes the mesh rebuild the link, as pv-xconnect does.
  await mesh.waitForOutput("drm-render", /waiting up to 20 s for DRM render node/);
  const providerNode = join(mesh.rootOf("drm-provider"), "dev", "dri", "renderD128");
  mkdirSync(join(mesh.rootOf("drm-provider"), "dev", "dri"), { recursive: true });
  execFileSync("mknod", [providerNode, "c", "1", "3"]);
  chmodSync(providerNode, 0o666);
  await mesh.restart("drm-provider");

  const injected = lstatSync(join(mesh.rootOf("drm-render"), "dev", "dri", "renderD128"));
  expect(injected.isCharacterDevice()).toBe(true);
  expect(majorMinor(injected.rdev)).toEqual([1, 3]);
  expect(injected.mode & 0o777).toBe(0o666);
  await mesh.waitForOutput("drm-render", /FAILED: cannot get driver version: ENOTTY/);
  expect((await mesh.exited("drm-render")).code).toBe(1);
  // The provider checks its nodes too: one that is there but is no DRM device is a failure it names.
  await mesh.waitForOutput("drm-provider", /FAILED: cannot get driver version: ENOTTY \(check: the file is not the device/);
});
