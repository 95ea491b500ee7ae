# pv-example-addon: cross-compiles one N-API addon of the repository (native/<lib>/) for the
# target, so the image does not carry the .node that node-gyp built for the host. N-API is
# ABI-stable, so an addon compiled against meta-oe's nodejs headers loads in any Node >= its
# NAPI_VERSION. The recipe pv-example-addon-<lib> states what binding.gyp states:
#   PV_ADDON_TARGET      binding.gyp's target_name: the loader requires "<target>.node"
#   PV_ADDON_SOURCES     binding.gyp's sources, relative to native/<lib>/
#   PV_ADDON_PKGCONFIG   the pkg-config modules binding.gyp asks for
#   PV_ADDON_PROTOCOLS   wayland-protocols XML files to run wayland-scanner on (client header + code)
# The .node is installed under /usr/lib/pv-examples/addons/; pv-example-node links it beside
# the bundle of each container that lists the addon in PV_EXAMPLE_ADDONS.
PV_ADDON_LIB = "${@d.getVar('PN').replace('pv-example-addon-', '', 1)}"
PV_ADDON_PROTOCOLS ?= ""
# Same version as package.json; fetched from the registry as a checksummed tarball.
NODE_ADDON_API_VERSION = "8.9.2"

LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302 \
                    file://${WORKDIR}/node-addon-api/LICENSE.md;md5=fc3ff1120869be6b3cce17f9a06bfe2e"

FILESEXTRAPATHS:prepend = "${PV_EXAMPLES_ROOT}:"
SRC_URI = "https://registry.npmjs.org/node-addon-api/-/node-addon-api-${NODE_ADDON_API_VERSION}.tgz;name=node-addon-api;striplevel=1;subdir=node-addon-api \
           ${@' '.join('file://native/%s/%s' % (d.getVar('PV_ADDON_LIB'), s) for s in d.getVar('PV_ADDON_SOURCES').split())}"
SRC_URI[node-addon-api.sha256sum] = "4cd65698541b19a33f798f1dc25c02c6ed1c9d7749b8824b1a1ccecdd197c8ea"

S = "${WORKDIR}/native/${PV_ADDON_LIB}"
B = "${WORKDIR}/build"

DEPENDS += "nodejs"

inherit pkgconfig

PV_EXAMPLE_LIBDIR = "/usr/lib/pv-examples"
# Same defines as binding.gyp: C++ exceptions are the project's one exception mode.
PV_ADDON_DEFINES = "-DNAPI_CPP_EXCEPTIONS -DNAPI_VERSION=8"

do_configure[noexec] = "1"

do_compile[cleandirs] = "${B}"
do_compile() {
    objects=""
    for xml in ${PV_ADDON_PROTOCOLS}; do
        protocol=$(basename $xml .xml)
        wayland-scanner client-header ${STAGING_DATADIR}/wayland-protocols/$xml ${B}/$protocol-client-protocol.h
        wayland-scanner private-code ${STAGING_DATADIR}/wayland-protocols/$xml ${B}/$protocol-protocol.c
        ${CC} ${CFLAGS} -fPIC -c ${B}/$protocol-protocol.c -o ${B}/$protocol-protocol.o
        objects="$objects ${B}/$protocol-protocol.o"
    done
    for source in ${PV_ADDON_SOURCES}; do
        ${CXX} ${CXXFLAGS} -std=c++17 -fPIC -fexceptions ${PV_ADDON_DEFINES} \
            -I${STAGING_INCDIR}/node -I${WORKDIR}/node-addon-api -I${B} \
            $(pkg-config --cflags ${PV_ADDON_PKGCONFIG}) \
            -c ${S}/$source -o ${B}/$(basename $source .cc).o
        objects="$objects ${B}/$(basename $source .cc).o"
    done
    # napi_* symbols stay undefined: node provides them when it loads the addon.
    ${CXX} ${LDFLAGS} -shared $objects $(pkg-config --libs ${PV_ADDON_PKGCONFIG}) -o ${B}/${PV_ADDON_TARGET}.node
}

do_install() {
    install -d ${D}${PV_EXAMPLE_LIBDIR}/addons
    install -m 0755 ${B}/${PV_ADDON_TARGET}.node ${D}${PV_EXAMPLE_LIBDIR}/addons/${PV_ADDON_TARGET}.node
}

FILES:${PN} = "${PV_EXAMPLE_LIBDIR}/addons/${PV_ADDON_TARGET}.node"
