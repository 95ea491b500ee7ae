// Device paths. Every example defaults to the path it has inside its container on a device
// (`/run/example/raw.sock`, `/run/pv/services/raw.sock`, ...). The one environment variable
// PV_ROOT moves all of them under a directory, which is how the local mesh runs several
// "containers" side by side on one machine without root: each gets its own root directory.

/** The directory that stands for `/` (PV_ROOT, or `/` itself on a device). */
export function containerRoot(): string {
  return process.env.PV_ROOT ?? "/";
}

/** An absolute container path, placed under PV_ROOT when set. */
export function devicePath(path: string): string {
  if (!path.startsWith("/")) throw new Error(`device path must be absolute: ${path}`);
  const root = containerRoot();
  return root === "/" ? path : `${root.replace(/\/+$/, "")}${path}`;
}

/** For --help: the environment variable every program reads. */
export const ROOT_ENV = {
  PV_ROOT: "a directory that stands for / : every default path moves under it (how the local mesh runs containers side by side)",
} as const;
