#!/usr/bin/env bash
# Stages this repository into a meta-pantavisor checkout for kas, and prints the build command.
#   scripts/stage-kas.sh /path/to/meta-pantavisor [target ...]
# - copies the repository (bundles in dist/ included; node_modules, .git, and what `npm run pack`
#   and the tests leave behind excluded: dist/pvrexports, pvtx.d, .work) to
#   <meta-pantavisor>/layers/pv-examples: kas-container mounts only meta-pantavisor's checkout, so
#   the layer and the bundles it packages must be inside it;
# - copies the kas fragment to <meta-pantavisor>/kas/pv-examples.yaml: kas refuses a config
#   chain whose files come from different git repositories.
# The bundles must be built first (npm ci && npm run build); this script refuses otherwise.
set -euo pipefail

usage="usage: scripts/stage-kas.sh META_PANTAVISOR_DIR [TARGET ...]   (default target: every pv-example-*)"
[ $# -ge 1 ] || { echo "$usage" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/.." && pwd)
meta=$(cd "$1" 2>/dev/null && pwd) || { echo "FAILED: $1 is not a directory" >&2; exit 2; }
shift
release=kas/build-configs/release/docker-x86_64-scarthgap.yaml
[ -f "$meta/$release" ] || { echo "FAILED: $meta has no $release: not a meta-pantavisor checkout (or an older one)" >&2; exit 2; }
[ -d "$repo/dist" ] || { echo "FAILED: $repo/dist is missing; build the bundles first: cd $repo && npm ci && npm run build" >&2; exit 1; }

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for recipe in "$repo"/bitbake/recipes-containers/pv-examples/pv-example-*.bb; do
    name=$(basename "$recipe"); targets+=("${name%%_*}")
  done
fi

dest="$meta/layers/pv-examples"
mkdir -p "$dest"
# A plain copy (not a symlink: kas-container would not see outside the checkout), made exact.
tar -C "$repo" --exclude=./node_modules --exclude=./.git --exclude='./native/*/build' \
    --exclude=./dist/pvrexports --exclude=./pvtx.d --exclude=./.work -cf - . | (rm -rf "$dest" && mkdir -p "$dest" && tar -C "$dest" -xf -)
cp "$repo/bitbake/kas/pv-examples.yaml" "$meta/kas/pv-examples.yaml"
echo "staged: $dest"
echo "staged: $meta/kas/pv-examples.yaml"
echo
echo "build with:"
printf '  cd %s && ./kas-container build %s:kas/pv-examples.yaml' "$meta" "$release"
for target in "${targets[@]}"; do printf ' \\\n      --target %s' "$target"; done
echo
