// Lint: the recommended JavaScript and TypeScript rules, nothing clever.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "**/build/**", "results/**", ".work/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: "readonly", console: "readonly", Buffer: "readonly", setTimeout: "readonly",
        clearTimeout: "readonly", setInterval: "readonly", clearInterval: "readonly", require: "readonly",
        module: "readonly", __dirname: "readonly", URL: "readonly", AbortController: "readonly", AbortSignal: "readonly" },
    },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
    },
  },
  {
    // The program loader and its code-cache maker: CommonJS files that run as they are (scripts/build.mjs).
    files: ["scripts/*.cjs"],
    languageOptions: { sourceType: "commonjs", globals: { __filename: "readonly" } },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
  {
    // Native addons are loaded with require() from the one place beside the bundle.
    files: ["native/*/index.ts"],
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
);
