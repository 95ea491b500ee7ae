// A small PNG reader for checking screenshots: 8-bit RGB or RGBA, not interlaced (what Chromium
// and weston-screenshooter write). The pixels are inflated with node:zlib and unfiltered per row.
import { inflateSync } from "node:zlib";

export interface Image {
  width: number;
  height: number;
  /** 0xRRGGBB at (x, y). */
  rgb(x: number, y: number): number;
}

/** The Paeth predictor of the PNG specification (filter type 4). */
function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

export function decodePng(data: Buffer): Image {
  if (data.toString("latin1", 1, 4) !== "PNG") throw new Error("not a PNG");
  let width = 0;
  let height = 0;
  let channels = 0;
  const compressed: Buffer[] = [];
  for (let at = 8; at < data.length; ) {
    const length = data.readUInt32BE(at);
    const type = data.toString("latin1", at + 4, at + 8);
    const body = data.subarray(at + 8, at + 8 + length);
    if (type === "IHDR") {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      const [depth, colour, interlace] = [body[8], body[9], body[12]];
      if (depth !== 8 || (colour !== 2 && colour !== 6) || interlace !== 0) throw new Error(`unsupported PNG: depth ${depth}, colour type ${colour}, interlace ${interlace}`);
      channels = colour === 2 ? 3 : 4;
    }
    if (type === "IDAT") compressed.push(body);
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(compressed));
  const stride = width * channels;
  const pixels = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    for (let i = 0; i < stride; i++) {
      const value = raw[y * (stride + 1) + 1 + i]!;
      const left = i >= channels ? pixels[y * stride + i - channels]! : 0;
      const up = y > 0 ? pixels[(y - 1) * stride + i]! : 0;
      const upLeft = i >= channels && y > 0 ? pixels[(y - 1) * stride + i - channels]! : 0;
      const predicted = [0, left, up, (left + up) >> 1, paeth(left, up, upLeft)][filter]!;
      pixels[y * stride + i] = (value + predicted) & 0xff;
    }
  }
  return { width, height, rgb: (x, y) => pixels.readUIntBE(y * stride + x * channels, 3) };
}

/** The share (0..1) of pixels in a rectangle that are not `background` (0xRRGGBB). */
export function shareNotBackground(image: Image, area: { x: number; y: number; width: number; height: number }, background: number): number {
  let other = 0;
  let all = 0;
  for (let y = Math.round(area.y); y < Math.round(area.y + area.height); y++) {
    for (let x = Math.round(area.x); x < Math.round(area.x + area.width); x++) {
      all++;
      if (image.rgb(x, y) !== background) other++;
    }
  }
  if (all === 0) throw new Error(`empty area ${JSON.stringify(area)}`);
  return other / all;
}
