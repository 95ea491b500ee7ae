// Reads the binary PPM (P6) that qemu's `screendump` writes: width, height and RGB pixels.
import { readFileSync } from "node:fs";

export interface Image {
  width: number;
  height: number;
  /** 0xRRGGBB at (x, y). */
  pixel(x: number, y: number): number;
}

export function readPpm(file: string): Image {
  const data = readFileSync(file);
  const header = /^P6\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(data.subarray(0, 64).toString("latin1"));
  if (header === null) throw new Error(`${file} is not a binary PPM`);
  const [width, height, max] = header.slice(1).map(Number);
  if (max !== 255) throw new Error(`${file}: expected 8-bit channels, got max ${max}`);
  const start = header[0].length;
  return {
    width,
    height,
    pixel(x, y) {
      const i = start + (y * width + x) * 3;
      return (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    },
  };
}
