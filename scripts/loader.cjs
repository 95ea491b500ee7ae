// Starts the program: app.js beside this file is the program itself (the esbuild bundle of
// containers/<program>/main.ts, wrapped as one function), and app.cache is V8's code for it,
// compiled when the bundle was built (scripts/build.mjs). Starting from that code skips compiling
// the bundle again at every start, which is most of a large bundle's start-up (bench/README.md).
// V8 refuses a cache made by another Node version or with other V8 flags; app.js is then compiled
// as usual, only slower.
"use strict";
const { readFileSync } = require("node:fs");
const { join } = require("node:path");
const { Script } = require("node:vm");

const app = join(__dirname, "app.js");
// esbuild writes ASCII only, and a latin1 string is the cheapest one to make from a file.
const source = readFileSync(app, "latin1");
let cachedData;
try {
  cachedData = readFileSync(join(__dirname, "app.cache"));
} catch {
  // No cache beside the bundle: V8 compiles app.js.
}
const program = new Script(source, { filename: app, cachedData }).runInThisContext();
// What Node passes a CommonJS module: the program sees this file as its module (require.main).
program.call(module.exports, module.exports, require, module, __filename, __dirname);
