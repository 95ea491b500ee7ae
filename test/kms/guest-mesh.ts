// Runs inside the qemu guest after the direct runs (started by guest.ts): the local mesh wires
// drm-provider to drm-master with the `drm` injector, so drm-master's modeset goes through a
// mknod copy of the real card0, as on a device. Lines: "mesh:<container>| ..." and "GUEST MESH ...".
import { join } from "node:path";
import { copyDeviceNode } from "../../mesh/types/drm";
import { startMesh } from "../../mesh/xconnect";

function say(line: string): void {
  process.stdout.write(`GUEST MESH ${line}\n`);
}

async function main(): Promise<void> {
  let unwired = false;
  const mesh = await startMesh({
    repoRoot: "/repo",
    containers: [{ name: "drm-provider" }, { name: "drm-master", args: ["--hold", "1", "--wait", "30"] }],
    profile: "master",
    onLine: (container, line) => {
      unwired ||= line.includes("which this mesh does not inject yet");
      process.stdout.write(`mesh:${container}| ${line}\n`);
    },
  });
  try {
    // The provider's root gets the real node (its mdev rules would on a device); restarting it gives
    // it a new pid, so the mesh rebuilds the link and copies the node into drm-master's root.
    copyDeviceNode("/dev/dri/card0", join(mesh.rootOf("drm-provider"), "dev", "dri", "card0"));
    await mesh.restart("drm-provider");
    if (unwired) return say("NOT-WIRED the mesh has no injector for type drm");
    const exit = await Promise.race([mesh.exited("drm-master"), new Promise<null>((resolve) => setTimeout(() => resolve(null), 20_000))]);
    say(`EXIT drm-master ${exit === null ? "timeout" : `code=${exit.code} signal=${exit.signal}`}`);
  } finally {
    await mesh.close();
  }
}

main().catch((error: unknown) => say(`ERROR ${error instanceof Error ? error.message : String(error)}`));
