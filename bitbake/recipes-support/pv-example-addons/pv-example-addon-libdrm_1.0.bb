SUMMARY = "pv-xconnect examples: the libdrm N-API addon (native/libdrm), for the target"
DESCRIPTION = "Thin libdrm bindings used by the drm-master and drm-render examples, cross-compiled against meta-oe's nodejs headers."

PV_ADDON_TARGET = "drm"
PV_ADDON_SOURCES = "drm.cc"
PV_ADDON_PKGCONFIG = "libdrm"

DEPENDS = "libdrm"

inherit pv-example-addon
