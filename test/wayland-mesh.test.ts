// The Wayland pair through the local mesh, as `npm start` runs it: drm-provider (wayland-server
// requires drm-master), wayland-server with headless Weston, wayland-client at its default path.
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Profile } from "../mesh/types/link";
import { startMesh, type Mesh } from "../mesh/xconnect";
import { onPath } from "../mesh/process";
import { skipUnless } from "./support/skips";

function skipReason(): string | null {
  if (!onPath("weston")) return "weston is not installed (apt-get install weston)";
  return null;
}
const SKIP = skipReason();

const CONTAINERS = [
  { name: "drm-provider" },
  { name: "wayland-server", args: ["--backend", "headless"] },
  { name: "wayland-client", args: ["--frames", "30"] },
];

describe.skipIf(skipUnless(SKIP === null, "Wayland through the local mesh", SKIP ?? ""))("Wayland through the local mesh", () => {
  let mesh: Mesh | null = null;
  afterEach(async () => {
    await mesh?.close();
    mesh = null;
  });

  async function run(profile: Profile): Promise<Mesh> {
    mesh = await startMesh({ containers: CONTAINERS, profile, lingerMs: 1000 });
    return mesh;
  }

  it("documented: the client finds the socket, lists the globals and draws 30 frames on 30 frame callbacks", async () => {
    const mesh = await run("documented");
    expect(await mesh.exited("wayland-client")).toEqual({ code: 0, signal: null });
    const output = mesh.output("wayland-client");
    expect(output).toContain(`SUCCESS: Found Wayland socket at ${join(mesh.rootOf("wayland-client"), "/run/wayland/wayland-0")}`);
    for (const iface of ["wl_compositor", "wl_shm", "xdg_wm_base"]) expect(output).toContain(`interface: '${iface}'`);
    expect(output).toMatch(/stopped \(frame count reached\): 30 frames drawn, 30 frame callbacks/);
  });

  it("master: globals listed, then the no-fd line and exit 3, while Weston keeps running", async () => {
    const mesh = await run("master");
    expect(await mesh.exited("wayland-client")).toEqual({ code: 3, signal: null });
    const output = mesh.output("wayland-client");
    expect(output).toContain("interface: 'wl_shm'");
    expect(output).toMatch(/FAILED: buffers could not be shared: the mesh did not pass the file descriptor of the shared-memory pool \(.+\)$/);
    expect(mesh.pid("wayland-server")).toBeGreaterThan(0);
    expect(mesh.output("wayland-server")).not.toMatch(/Weston exited/);
  });
});
