SUMMARY = "pv-xconnect examples: device configuration (IPAM pool and container groups)"
DESCRIPTION = "containers/device-config/device.json as a signed pvrexport: pool `internal` (bridge br0, 10.0.3.0/24, gateway 10.0.3.1, nat) and the groups root, platform and app. Appengine has no BSP to carry device.json, so it ships as its own revision part."
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

# The public developer keys, pinned as a checksummed tarball (pvr-ca's git SRC_URI is not
# inherited here: this recipe is not an image, and one pinned source is enough).
PVS_URI = "https://gitlab.com/pantacor/pv-developer-ca/-/archive/2340d747c4acd0a1a702b3d7d5acc014b51daaa7/pv-developer-ca-master.tar.gz"

SRC_URI = "file://containers/device-config/device.json \
           ${PVS_URI};name=pv-developer-ca;striplevel=1;subdir=pv-developer-ca"
SRC_URI[pv-developer-ca.sha256sum] = "9f4c55dad2c121a4ca2ae39e2767eb4a214822ee34041a65692766ae438f96d8"

FILESEXTRAPATHS:prepend = "${PV_EXAMPLES_ROOT}:"

DEPENDS = "pvr-native"
INHIBIT_DEFAULT_DEPS = "1"
# Deployed to deploy/images/<machine>/, like the containers.
PACKAGE_ARCH = "${MACHINE_ARCH}"

inherit deploy

PVR_CONFIG_DIR = "${WORKDIR}/pvrconfig"
PVR_HOME_DIR = "${WORKDIR}/home"
PVR_REPO = "${B}/pvrrepo"

do_configure[noexec] = "1"

do_compile[cleandirs] = "${PVR_CONFIG_DIR} ${PVR_HOME_DIR} ${PVR_REPO}"
do_compile() {
    export PVR_DISABLE_SELF_UPGRADE=true
    export PVR_CONFIG_DIR="${PVR_CONFIG_DIR}"
    export HOME="${PVR_HOME_DIR}"
    tar -C ${PVR_CONFIG_DIR} -xf ${WORKDIR}/pv-developer-ca/pvs/pvs.defaultkeys.tar.gz --no-same-owner
    export PVR_SIG_KEY="${PVR_CONFIG_DIR}/key.default.pem"
    export PVR_X5C_PATH="${PVR_CONFIG_DIR}/x5c.default.pem"

    cd ${PVR_REPO}
    pvr init
    # Pantavisor reads it only under this exact name in the state.
    cp ${WORKDIR}/containers/device-config/device.json device.json
    pvr add
    pvr commit
    # A raw signature (no container part) named device-config, covering device.json only.
    pvr sig add -n --raw device-config --include "device.json"
    pvr add
    pvr commit
    pvr sig up
    pvr commit
}

do_deploy() {
    export PVR_DISABLE_SELF_UPGRADE=true
    export PVR_CONFIG_DIR="${PVR_CONFIG_DIR}"
    export HOME="${PVR_HOME_DIR}"
    cd ${PVR_REPO}
    pvr export ${DEPLOYDIR}/${PN}.pvrexport.tgz
}
addtask deploy after do_compile before do_build
