// Writes V8's code cache for a program's bundle: `node scripts/code-cache.cjs APP CACHE`, run by
// scripts/build.mjs with the same node and no V8 flags, as the loader (scripts/loader.cjs) will
// run. The bundle is compiled the way the loader compiles it, then evaluated as a module that is
// not the main one, so every module it bundles runs its top level (and V8 compiles those
// functions too) while the program's main() does not run. The cache is taken after that.
"use strict";
const { readFileSync, renameSync, writeFileSync } = require("node:fs");
const { dirname } = require("node:path");
const { Script } = require("node:vm");

const [app, cache] = process.argv.slice(2);
const script = new Script(readFileSync(app, "latin1"), { filename: app });
const notMain = { exports: {} };
script.runInThisContext().call(notMain.exports, notMain.exports, require, notMain, app, dirname(app));
// Written beside, then renamed: a program starting meanwhile reads the old cache or the new one.
writeFileSync(`${cache}.${process.pid}.tmp`, script.createCachedData());
renameSync(`${cache}.${process.pid}.tmp`, cache);
// A bundle's top level may leave a handle open (a timer, a signal handler): the cache is written.
process.exit(0);
