import { defineConfig } from "vitest/config";

// Tests run the bundles that ship: globalSetup builds them (esbuild is quick; native addons are
// rebuilt only when their sources changed). Test files run two at a time on the 2-core machines.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/build.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    maxWorkers: 2,
    reporters: ["default"],
  },
});
