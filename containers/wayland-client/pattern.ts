// The picture wayland-client animates: recognisable in a screenshot (four quadrants of pure colour
// at fixed places in the window) and visibly moving (a white bar sweeping across a black band).
export const QUADRANTS = [0xffff0000, 0xff00ff00, 0xff0000ff, 0xffffff00]; // top-left, top-right, bottom-left, bottom-right

/** Frame `n` of the pattern, in XRGB8888 pixels (one uint32 per pixel). */
export function drawPattern(pixels: Uint32Array, width: number, height: number, n: number): void {
  const bandTop = Math.floor((height * 7) / 16);
  const bandBottom = Math.ceil((height * 9) / 16);
  const barWidth = Math.max(1, Math.floor(width / 8));
  const barLeft = (n * 4) % (width + barWidth) - barWidth;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    if (y >= bandTop && y < bandBottom) {
      pixels.fill(0xff000000, row, row + width);
      pixels.fill(0xffffffff, row + Math.max(0, barLeft), row + Math.min(width, barLeft + barWidth));
      continue;
    }
    const [left, right] = y < height / 2 ? [QUADRANTS[0], QUADRANTS[1]] : [QUADRANTS[2], QUADRANTS[3]];
    pixels.fill(left, row, row + width / 2);
    pixels.fill(right, row + width / 2, row + width);
  }
}
