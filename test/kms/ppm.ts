// Reads the binary PPM (P6) that qemu's `screendump` writes, and finds what the tests look for in it.
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

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The bounding box of the pixels of one exact colour, or null when there is none. */
export function boxOf(image: Image, rgb: number): Box | null {
  let [minX, minY, maxX, maxY] = [Infinity, Infinity, -1, -1];
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      if (image.pixel(x, y) !== rgb) continue;
      [minX, minY, maxX, maxY] = [Math.min(minX, x), Math.min(minY, y), Math.max(maxX, x), Math.max(maxY, y)];
    }
  }
  return maxX < 0 ? null : { x: minX, y: minY, width: maxX - minX + 1, height: maxY - minY + 1 };
}

/** Whether every pixel of `box` has colour `rgb`. */
export function filledWith(image: Image, box: Box, rgb: number): boolean {
  for (let y = box.y; y < box.y + box.height; y++) {
    for (let x = box.x; x < box.x + box.width; x++) if (image.pixel(x, y) !== rgb) return false;
  }
  return true;
}

/**
 * wayland-client's window (containers/wayland-client/pattern.ts), wherever the compositor placed it:
 * the red quadrant is its top-left corner (found by colour, nowhere else on a Weston desktop), green
 * beside it, then a black band with the white bar, then blue and yellow. Null unless every part is
 * there, in exact colours (a window still fading in, or half drawn, does not count).
 */
export function findWindow(image: Image, quadrants: number[]): (Box & { band: Box }) | null {
  const [red, green, blue, yellow] = quadrants.map((argb) => argb & 0xffffff);
  const topLeft = boxOf(image, red);
  if (topLeft === null || !filledWith(image, topLeft, red)) return null;
  const { x, y, width: quarter, height: top } = topLeft;
  if (!filledWith(image, { x: x + quarter, y, width: quarter, height: top }, green)) return null;
  // The band: the rows below the top quadrants that are black or white, down to the first blue row.
  let bandEnd = y + top;
  while (bandEnd < image.height && image.pixel(x, bandEnd) !== blue) bandEnd++;
  const band = { x, y: y + top, width: 2 * quarter, height: bandEnd - (y + top) };
  if (band.height === 0 || bandEnd === image.height) return null;
  for (let row = band.y; row < bandEnd; row++) {
    for (let col = x; col < x + band.width; col++) if (![0x000000, 0xffffff].includes(image.pixel(col, row))) return null;
  }
  let bottom = 0;
  while (bandEnd + bottom < image.height && image.pixel(x, bandEnd + bottom) === blue) bottom++;
  if (!filledWith(image, { x, y: bandEnd, width: quarter, height: bottom }, blue)) return null;
  if (!filledWith(image, { x: x + quarter, y: bandEnd, width: quarter, height: bottom }, yellow)) return null;
  return { x, y, width: 2 * quarter, height: top + band.height + bottom, band };
}

/** Where the white bar is in the window's band (its left edge, relative to the window), or null when it is off the band. */
export function barPosition(image: Image, band: Box): number | null {
  const row = band.y + Math.floor(band.height / 2);
  for (let col = band.x; col < band.x + band.width; col++) if (image.pixel(col, row) === 0xffffff) return col - band.x;
  return null;
}
