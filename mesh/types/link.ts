// What the mesh hands to each service type's injector: one link of the graph, with the host paths
// that stand for the container paths (each container's root directory is a folder on the host).
import type { ServiceType } from "../../shared/manifest";

export type Profile = "documented" | "master";
export const PROFILES: readonly Profile[] = ["documented", "master"];

export interface Link {
  consumer: string;
  provider: string;
  name: string;
  type: ServiceType;
  role: string;
  interface: string;
  /** Path inside the consumer (from its args.json). */
  target: string;
  /** Path inside the provider (from its services.json). */
  socket: string;
  /** Host path of `target`: the consumer's root directory + target. */
  targetPath: string;
  /** Host path of `socket`: the provider's root directory + socket. */
  socketPath: string;
  /** Host path of the provider's root directory (to read its /etc/passwd, for instance). */
  providerRoot: string;
}

export interface MeshOptions {
  profile: Profile;
  /** master only: how long an idle consumer connection stays open after the provider closed (pv-xconnect: 60 s). */
  lingerMs: number;
  log(line: string): void;
}

/** What an injector leaves in place; `close()` removes it (the listening socket, the device node). */
export interface Injection {
  close(): Promise<void>;
}

/** One per service type: makes `link.socket` of the provider reachable at `link.target` in the consumer. */
export type Injector = (link: Link, options: MeshOptions) => Promise<Injection>;
