#!/usr/bin/env bash
# The benchmarks: set up, build, then run every row against its baseline (see bench/README.md).
# Arguments go to the runner: --quick (a few seconds, what CI runs), --only ROW.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node scripts/build.mjs >/dev/null
exec node dist/bench/main.js "$@"
