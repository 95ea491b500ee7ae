SUMMARY = "pv-xconnect example in TypeScript: Wayland client consumer"
DESCRIPTION = "Requires `wayland-0` at /run/wayland/wayland-0 and shows a window through the wayland addon (xdg-shell)."

inherit pv-example-node
