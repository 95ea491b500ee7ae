SUMMARY = "pv-xconnect example in TypeScript: DRM render-node consumer"
DESCRIPTION = "Requires `drm-render` at /dev/dri/renderD128 and queries the GPU through the libdrm addon."

PV_EXAMPLE_FILES = "args.json"
PV_EXAMPLE_ADDONS = "libdrm"

inherit pv-example-node
