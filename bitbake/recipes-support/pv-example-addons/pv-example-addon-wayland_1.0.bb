SUMMARY = "pv-xconnect examples: the Wayland client N-API addon (native/wayland), for the target"
DESCRIPTION = "Thin libwayland-client + xdg-shell bindings used by the wayland-client example, cross-compiled against meta-oe's nodejs headers."

PV_ADDON_TARGET = "wayland"
PV_ADDON_SOURCES = "wayland.cc"
PV_ADDON_PKGCONFIG = "wayland-client"
PV_ADDON_PROTOCOLS = "stable/xdg-shell/xdg-shell.xml"

# wayland-native provides wayland-scanner; wayland-protocols the XML.
DEPENDS = "wayland wayland-native wayland-protocols"

inherit pv-example-addon
