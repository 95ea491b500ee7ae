#!/usr/bin/env bash
# The hardening suite alone (it is also part of `npm test`): bad input, load, restarts, signals and
# role abuse, bounded in count and time, on local unix sockets only. Prints its summary table.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node scripts/build.mjs >/dev/null
exec npx vitest run test/hardening "$@"
