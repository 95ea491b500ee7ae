#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up, lint, type-check, the strict build, then vitest
# (which runs the bundles that were just built). Extra arguments go to vitest (a file, -t NAME).
# The last line is a plain count ("N passed, N failed, N skipped") that any CI can read.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== lint";      npx eslint .
echo "== typecheck"; npx tsc --noEmit
echo "== build";     node scripts/build.mjs
echo "== tests"
mkdir -p results
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json=results/vitest.json "$@" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync("results/vitest.json", "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' || true
exit "$status"
