#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up, lint, type-check, the strict build, then vitest
# (which runs the bundles that were just built). Extra arguments go to vitest (a file, -t NAME).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== lint";      npx eslint .
echo "== typecheck"; npx tsc --noEmit
echo "== build";     node scripts/build.mjs
echo "== tests";     npx vitest run "$@"
