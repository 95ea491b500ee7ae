#!/usr/bin/env bash
# The main job: set up, build, and run every example pair through the local mesh.
# Arguments go to the demo: --profile documented|master, --duration SECONDS, --keep.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node scripts/build.mjs >/dev/null
exec node dist/mesh/demo.js "$@"
