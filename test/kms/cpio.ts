// A minimal writer for the "newc" cpio format the kernel unpacks as an initramfs. Written here
// rather than calling cpio(1) so that device nodes (/dev/console) can be described without root
// and nothing but Node is needed on the host.
import { closeSync, openSync, readFileSync, statSync, writeSync } from "node:fs";

export type CpioEntry =
  | { path: string; type: "dir"; mode?: number }
  | { path: string; type: "file"; from: string; mode?: number }
  | { path: string; type: "text"; text: string; mode?: number }
  | { path: string; type: "symlink"; target: string }
  | { path: string; type: "char"; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

const hex = (n: number): string => n.toString(16).padStart(8, "0");
const pad4 = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4);

/** Writes `entries` (parents before children) as a newc archive at `file`. */
export function writeCpio(file: string, entries: CpioEntry[]): void {
  const fd = openSync(file, "w");
  let offset = 0;
  const write = (data: Buffer): void => {
    writeSync(fd, data);
    offset += data.length;
  };
  const record = (path: string, mode: number, data: Buffer, ino: number, rdev = [0, 0]): void => {
    const name = Buffer.from(`${path.replace(/^\/+/, "")}\0`);
    const fields = [ino, mode, 0, 0, 1, 0, data.length, 0, 0, rdev[0], rdev[1], name.length, 0];
    write(Buffer.from(`070701${fields.map(hex).join("")}`));
    write(name);
    write(pad4(offset));
    write(data);
    write(pad4(offset));
  };
  try {
    entries.forEach((entry, index) => {
      const ino = index + 1;
      switch (entry.type) {
        case "dir":
          return record(entry.path, S_IFDIR | (entry.mode ?? 0o755), Buffer.alloc(0), ino);
        case "file":
          return record(entry.path, S_IFREG | (entry.mode ?? statSync(entry.from).mode & 0o777), readFileSync(entry.from), ino);
        case "text":
          return record(entry.path, S_IFREG | (entry.mode ?? 0o644), Buffer.from(entry.text), ino);
        case "symlink":
          return record(entry.path, S_IFLNK | 0o777, Buffer.from(entry.target), ino);
        case "char":
          return record(entry.path, S_IFCHR | (entry.mode ?? 0o600), Buffer.alloc(0), ino, [entry.major, entry.minor]);
      }
    });
    record("TRAILER!!!", 0, Buffer.alloc(0), 0);
  } finally {
    closeSync(fd);
  }
}
