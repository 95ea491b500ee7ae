// The role pv-xconnect gives a consumer is set in the consumer's args.json, which the container
// itself cannot read. Programs that print their role (it is only a label: the bus decides what the
// role may do) take it from --role, else PV_ROLE, else /etc/pv-role in their image, which the recipe
// and the local mesh install from containers/<name>/rootfs/etc/pv-role.
import { readFileSync } from "node:fs";
import { devicePath } from "./paths";

const ROLE_FILE = "/etc/pv-role";

export function roleLabel(option: string | undefined, fallback: string): string {
  if (option) return option;
  if (process.env.PV_ROLE) return process.env.PV_ROLE;
  try {
    return readFileSync(devicePath(ROLE_FILE), "utf8").trim() || fallback;
  } catch {
    return fallback;
  }
}

/** For --help: where the role label comes from when --role is not given. */
export const ROLE_ENV = { PV_ROLE: `the role label, when --role is not given (else ${ROLE_FILE} in the image)` } as const;
