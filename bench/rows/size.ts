// Bundle size on disk, per container: what the image installs for it, i.e. dist/<program>/ without
// the source map: the loader (main.js), the esbuild bundle (app.js), its code cache (app.cache) and
// the native addons copied beside it.
// Containers without a main.ts reuse another program's bundle (container.json) and show its size.
// Node itself is not counted (one runtime per image, shared), nor upstream's Python.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Context, Row } from "../lib/context";
import { notMeasured, type Figure } from "../lib/figures";

const ROW = "bundle size";

function programOf(containerDir: string, name: string): string {
  const manifest = join(containerDir, "container.json");
  if (!existsSync(manifest)) return name;
  return (JSON.parse(readFileSync(manifest, "utf8")) as { program?: string }).program ?? name;
}

export const sizeRow: Row = {
  name: "size",
  title: ROW,
  async run(context: Context): Promise<Figure[]> {
    const containers = join(context.repo, "containers");
    const figures: Figure[] = [];
    for (const name of readdirSync(containers).sort()) {
      const dir = join(containers, name);
      if (!existsSync(join(dir, "main.ts")) && !existsSync(join(dir, "container.json"))) continue; // e.g. device-config: no program
      const program = programOf(dir, name);
      const names = { ours: program === name ? name : `${name} (bundle of ${program})`, baseline: "-" };
      const out = join(context.repo, "dist", program);
      if (!existsSync(join(out, "main.js"))) {
        figures.push(notMeasured(ROW, `${name}: size on disk`, `dist/${program}/main.js missing (npm run build)`, names));
        continue;
      }
      const files = readdirSync(out).filter((file) => !file.endsWith(".map"));
      const kb = files.reduce((sum, file) => sum + statSync(join(out, file)).size, 0) / 1024;
      const addons = files.filter((file) => file.endsWith(".node"));
      figures.push({
        row: ROW,
        metric: `${name}: size on disk`,
        unit: "KB",
        oursName: names.ours,
        baselineName: names.baseline,
        ours: [kb],
        baseline: [],
        higherIsBetter: false,
        ...(addons.length > 0 ? { note: `main.js, app.js, app.cache + ${addons.join(", ")}` } : {}),
      });
    }
    return figures;
  },
};
