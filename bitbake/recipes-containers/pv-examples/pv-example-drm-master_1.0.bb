SUMMARY = "pv-xconnect example in TypeScript: DRM master (KMS) consumer"
DESCRIPTION = "Requires `drm-master` at /dev/dri/card0 and does a bounded modeset through the libdrm addon."

inherit pv-example-node
