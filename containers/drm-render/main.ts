// drm-render: a consumer that uses the injected render node, as a GPU client would.
//
// Requires service `drm-render` (args.json), which pv-xconnect injects as a copy of the provider's
// device node at /dev/dri/renderD128. It waits for the node, opens it (a render node needs no
// master and no CAP_SYS_ADMIN: that is the point of render nodes), prints the driver name and
// version, and stays alive until SIGTERM. Without the node it fails with one line and exit code 1.
//
// Run:  node dist/drm-render/main.js [--device PATH] [--wait SECONDS]
//       (PV_ROOT=DIR moves the default path; --wait: 30 s by default; --help)
// Stop: SIGTERM or Ctrl-C: closes the node, exits 0.
//
// Simplified: no GPU work is submitted; opening the node and asking its driver is the whole demo.
import { parseCommandLine } from "../../shared/cli";
import { log } from "../../shared/log";
import { devicePath, ROOT_ENV } from "../../shared/paths";
import { FatalError, runMain } from "../../shared/run";
import { stopSignal, untilAborted } from "../../shared/shutdown";
import { WAIT_OPTION, waitForPath, waitSeconds } from "../../shared/wait";
import { drm, type DrmBinding, type DrmVersion } from "../../native/libdrm/index";

const DEVICE_PATH = "/dev/dri/renderD128";

export interface RenderNode {
  version: DrmVersion;
  close(): void;
}

/** Opens the render node and asks its driver who it is. */
export async function start(device: string, binding: DrmBinding = drm()): Promise<RenderNode> {
  const fd = binding.open(device);
  try {
    return { version: binding.getVersion(fd), close: () => binding.close(fd) };
  } catch (error) {
    binding.close(fd);
    throw error;
  }
}

async function main(): Promise<number> {
  const { values } = parseCommandLine({
    name: "drm-render",
    summary: "Consumer of the DRM pattern: opens the render node pv-xconnect injects (service drm-render) and prints its driver.",
    options: {
      device: { type: "string", value: "PATH", default: devicePath(DEVICE_PATH), help: "the injected render node" },
      wait: WAIT_OPTION,
    },
    env: ROOT_ENV,
    examples: ["drm-render --device /dev/dri/renderD128 --wait 5"],
  });
  const device = values.device;
  const wait = waitSeconds(values.wait);
  log(`drm-render: device ${device}, waiting up to ${wait} s for it`);

  const stopping = stopSignal();
  if (!(await waitForPath(device, { waitSeconds: wait, what: "DRM render node", signal: stopping }))) {
    if (stopping.aborted) return 0;
    throw new FatalError(`DRM render node ${device} did not appear within ${wait} s (--wait)`);
  }
  const node = await start(device);
  const { name, major, minor, patchlevel, description } = node.version;
  log("DRM Render (user) success!");
  log(`driver: ${name} ${major}.${minor}.${patchlevel} (${description})`);
  // A pending timer keeps Node running until the signal (a signal handler alone does not).
  await untilAborted(stopping);
  log(`drm-render: ${String(stopping.reason)} received, closing ${device}`);
  node.close();
  return 0;
}

if (require.main === module) runMain(main);
