SUMMARY = "pv-xconnect example in TypeScript: DRM render-node consumer"
DESCRIPTION = "Requires `drm-render` at /dev/dri/renderD128 and queries the GPU through the libdrm addon."

inherit pv-example-node
