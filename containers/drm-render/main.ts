// drm-render: a consumer that uses the injected render node, as a GPU client would.
//
// Requires service `drm-render` (args.json), which pv-xconnect injects as a copy of the provider's
// device node at /dev/dri/renderD128. It waits for the node, opens it (a render node needs no
// master and no CAP_SYS_ADMIN: that is the point of render nodes), prints the driver name and
// version, and stays alive until SIGTERM. Without the node it fails with one line and exit code 1.
//
// Run:  node dist/drm-render/main.js [--device PATH] [--attempts N] [--interval SECONDS]
//       (PV_ROOT=DIR moves the default path)
// Stop: SIGTERM or Ctrl-C: closes the node, exits 0.
//
// Simplified: no GPU work is submitted; opening the node and asking its driver is the whole demo.
import { parseArgs } from "node:util";
import { log } from "../../shared/log";
import { devicePath } from "../../shared/paths";
import { FatalError, runMain } from "../../shared/run";
import { stopSignal, untilAborted } from "../../shared/shutdown";
import { waitForPath } from "../../shared/wait";
import { drm, type DrmBinding, type DrmVersion } from "../../native/libdrm/index";

const DEVICE_PATH = "/dev/dri/renderD128";
const WAIT_ATTEMPTS = 30;
const WAIT_INTERVAL_SECONDS = 1;

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
  const { values } = parseArgs({ options: { device: { type: "string" }, attempts: { type: "string" }, interval: { type: "string" } } });
  const device = values.device ?? devicePath(DEVICE_PATH);
  const attempts = Number(values.attempts ?? WAIT_ATTEMPTS);
  const intervalSeconds = Number(values.interval ?? WAIT_INTERVAL_SECONDS);
  if (!Number.isInteger(attempts) || attempts < 1 || !(intervalSeconds > 0)) {
    throw new FatalError("--attempts must be a positive integer and --interval a positive number");
  }
  log(`drm-render: device ${device}, waiting up to ${attempts} x ${intervalSeconds} s`);

  const stopping = stopSignal();
  if (!(await waitForPath(device, { attempts, intervalMs: intervalSeconds * 1000, what: "DRM render node", signal: stopping }))) {
    if (stopping.aborted) return 0;
    throw new FatalError(`DRM render node ${device} did not appear after ${attempts} attempts`);
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
