SUMMARY = "pv-xconnect example in TypeScript: Wayland compositor provider"
DESCRIPTION = "Runs weston on the injected /dev/dri/card0 and exports its socket as `wayland-0` (type wayland)."

inherit pv-example-node
