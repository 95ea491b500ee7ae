SUMMARY = "pv-xconnect example in TypeScript: DRM master (KMS) consumer"
DESCRIPTION = "Requires `drm-master` at /dev/dri/card0 and does a bounded modeset through the libdrm addon."

PV_EXAMPLE_FILES = "args.json"
PV_EXAMPLE_ADDONS = "libdrm"

inherit pv-example-node
