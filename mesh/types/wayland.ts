// type `wayland`: the compositor's socket, made reachable in the consumer.
//   documented: "Wayland protocol mediated for the client": a Wayland client must be able to pass
//               file descriptors (every wl_shm pool is one), so the consumer gets the provider's
//               socket itself: a symbolic link at its target. Through it the consumer talks to the
//               compositor directly, fds included; it follows a restarted compositor's new socket.
//   master:     what pv-xconnect master does: a plain byte proxy, without ancillary data, so the
//               registry works and anything carrying an fd is lost (README.md, "Profiles").
import { lstatSync, readlinkSync, rmSync, symlinkSync } from "node:fs";
import { clearTarget, spliceProxy } from "../proxy";
import type { Injection, Injector, Link, MeshOptions } from "./link";

async function linkProviderSocket(link: Link): Promise<Injection> {
  clearTarget(link.targetPath);
  symlinkSync(link.socketPath, link.targetPath);
  return {
    async close() {
      // Only our own link: the consumer may have put something else there since.
      try {
        if (lstatSync(link.targetPath).isSymbolicLink() && readlinkSync(link.targetPath) === link.socketPath) rmSync(link.targetPath);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      }
    },
  };
}

export const injectWayland: Injector = (link: Link, options: MeshOptions) =>
  options.profile === "documented" ? linkProviderSocket(link) : spliceProxy(link, options);
