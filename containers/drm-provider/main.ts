// drm-provider: the provider side of the DRM pattern.
//
// Exports two services of type `drm` (services.json): `drm-master` -> /dev/dri/card0 (KMS, for a
// display owner) and `drm-render` -> /dev/dri/renderD128 (GPU rendering, no master needed). There
// is nothing to serve: pv-xconnect copies these device nodes into each consumer with mknod (same
// type, major:minor, mode, owner). The provider only has to own the nodes, so it checks which ones
// exist, prints the driver behind each, and stays alive until SIGTERM (a provider that exits
// takes its links with it).
//
// Run:  node dist/drm-provider/main.js [--master PATH] [--render PATH]   (PV_ROOT=DIR moves the defaults; --help)
// Stop: SIGTERM or Ctrl-C: exits 0.
//
// A missing node is reported, not fatal (a VKMS board has card0 and no render node). A node that is
// there but unusable (ENXIO: no driver behind it; EACCES: no device rule) is: its consumers would
// fail, so the provider fails first, with one line saying what to check.
import { parseCommandLine } from "../../shared/cli";
import { log, reason } from "../../shared/log";
import { devicePath, ROOT_ENV } from "../../shared/paths";
import { runMain } from "../../shared/run";
import { stopSignal, untilAborted } from "../../shared/shutdown";
import { drm, type DrmBinding } from "../../native/libdrm/index";

const MASTER_PATH = "/dev/dri/card0";
const RENDER_PATH = "/dev/dri/renderD128";

export interface NodeReport {
  service: string;
  path: string;
  /** "i915 1.6.0", or "missing (ENOENT)". */
  driver: string;
  present: boolean;
}

/** Opens each exported node just long enough to ask its driver's name and version; throws for a node that is there but unusable. */
export async function start(nodes: Record<string, string>, binding: DrmBinding = drm()): Promise<NodeReport[]> {
  return Object.entries(nodes).map(([service, path]) => {
    let fd = -1;
    try {
      fd = binding.open(path);
      const { name, major, minor, patchlevel } = binding.getVersion(fd);
      return { service, path, driver: `${name} ${major}.${minor}.${patchlevel}`, present: true };
    } catch (error) {
      if (reason(error) !== "ENOENT") throw error;
      return { service, path, driver: "missing (ENOENT)", present: false };
    } finally {
      if (fd >= 0) binding.close(fd);
    }
  });
}

async function main(): Promise<number> {
  const { values } = parseCommandLine({
    name: "drm-provider",
    summary: "Provider of the DRM pattern: exports its KMS node (service drm-master) and render node (service drm-render), which pv-xconnect copies into consumers.",
    options: {
      master: { type: "string", value: "PATH", default: devicePath(MASTER_PATH), help: "the KMS node exported as drm-master" },
      render: { type: "string", value: "PATH", default: devicePath(RENDER_PATH), help: "the render node exported as drm-render" },
    },
    env: ROOT_ENV,
    examples: ["drm-provider --master /dev/dri/card0 --render /dev/dri/renderD128"],
  });
  const nodes = { "drm-master": values.master, "drm-render": values.render };
  log(`drm-provider: exporting drm-master at ${nodes["drm-master"]}, drm-render at ${nodes["drm-render"]}`);

  const stopping = stopSignal();
  const reports = await start(nodes);
  for (const { service, path, driver } of reports) log(`${service}: ${path}: ${driver}`);
  const present = reports.filter((r) => r.present).length;
  log(`drm-provider: ${present} of ${reports.length} nodes present; serving until SIGTERM`);
  // A pending timer keeps Node running until the signal (a signal handler alone does not).
  await untilAborted(stopping);
  log(`drm-provider: ${String(stopping.reason)} received, exiting`);
  return 0;
}

if (require.main === module) runMain(main);
