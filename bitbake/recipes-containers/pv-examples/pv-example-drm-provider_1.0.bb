SUMMARY = "pv-xconnect example in TypeScript: DRM device provider"
DESCRIPTION = "Exports /dev/dri/card0 (drm-master) and /dev/dri/renderD128 (drm-render) as type drm services."

PV_EXAMPLE_FILES = "services.json"
PV_EXAMPLE_ADDONS = "libdrm"
# The provider opens its own /dev/dri nodes: let mdev grant them.
PVRIMAGE_AUTO_MDEV = "1"

inherit pv-example-node
