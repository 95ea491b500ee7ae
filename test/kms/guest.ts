// Runs inside the qemu guest (bundled by initramfs.ts to /guest.js, started by /init). It drives
// the DRM programs against the guest kernel's real KMS (bochs, from qemu's std VGA) and prints
// lines the host test parses (guest-lines.ts): the programs' own output prefixed with their name,
// and `GUEST ...` result lines. The host answers `GUEST READY-FOR-SCREENDUMP` by sending "GO".
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { askHost, finished, run, say } from "./guest-lines";

async function main(): Promise<void> {
  say(`DRI ${existsSync("/dev/dri") ? readdirSync("/dev/dri").join(" ") : "(none)"}`);

  // 1. drm-render with the bochs card only: there is no render node, so one FAILED line, exit 1.
  await finished("render-without-node", run("drm-render", ["--wait", "0.4"]));

  // 2. drm-master, preferred mode, held 1 s and restored on its own.
  await finished("master-timed", run("drm-master", ["--hold", "1", "--wait", "5"]));

  // 3. drm-master, a requested mode, held until SIGTERM; the host takes a screendump meanwhile.
  const held = run("drm-master", ["--hold", "0", "--mode", "800x600"]);
  try {
    await held.waitFor(/holding the picture/);
    say(`HOST-GO ${await askHost("READY-FOR-SCREENDUMP", "GO", 20_000)}`);
  } catch (error) {
    say(`ERROR ${error instanceof Error ? error.message : String(error)}`);
  }
  const signalled = performance.now();
  held.kill("SIGTERM");
  await held.exited;
  say(`SIGTERM-TO-EXIT-MS ${Math.round(performance.now() - signalled)}`);
  await finished("master-sigterm", held);

  // 4. The same card through the local mesh: drm-master's node is the drm injector's mknod copy.
  if (existsSync("/guest-mesh.js")) {
    const mesh = spawn("/usr/bin/node", ["/guest-mesh.js"], { stdio: ["ignore", "inherit", "inherit"] });
    const timer = setTimeout(() => mesh.kill("SIGKILL"), 60_000);
    await new Promise((resolve) => mesh.on("close", resolve));
    clearTimeout(timer);
  } else say("MESH ERROR the mesh runner could not be bundled");

  // 5. A second GPU with a render node (virtio-gpu), then the provider and drm-render succeed.
  try {
    for (const module of readdirSync("/modules/late").sort()) execFileSync("/bin/insmod", [`/modules/late/${module}`]);
    for (let i = 0; i < 50 && !existsSync("/dev/dri/renderD128"); i++) await new Promise((r) => setTimeout(r, 100));
  } catch (error) {
    say(`ERROR loading virtio-gpu: ${error instanceof Error ? error.message : String(error)}`);
  }
  say(`DRI ${readdirSync("/dev/dri").join(" ")}`);
  const provider = run("drm-provider", []);
  await provider.waitFor(/serving until SIGTERM/).catch(() => undefined);
  provider.kill("SIGTERM");
  await finished("provider", provider);
  const render = run("drm-render", ["--wait", "0.6"]);
  await render.waitFor(/^.*driver: /).catch(() => undefined);
  render.kill("SIGTERM");
  await finished("render-with-node", render);
  say("DONE");
}

main().catch((error: unknown) => say(`ERROR ${error instanceof Error ? error.stack : String(error)}`));
