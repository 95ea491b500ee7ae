SUMMARY = "pv-xconnect example in TypeScript: DRM device provider"
DESCRIPTION = "Exports /dev/dri/card0 (drm-master) and /dev/dri/renderD128 (drm-render) as type drm services."

inherit pv-example-node
