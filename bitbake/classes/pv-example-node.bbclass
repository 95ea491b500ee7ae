# pv-example-node: what every TypeScript example container shares, so that a recipe states only
# what differs and two recipes diff cleanly.
#
# The recipe pv-example-<name> packages the repository's containers/<name>/:
#   - the program's bundle, built on the host (`npm ci && npm run build`): dist/<program>/main.js,
#     where <program> is containers/<name>/container.json's "program" (a variant such as
#     dbus-client-nobody reuses another program) or else <name>. It is installed as
#     /usr/lib/pv-examples/<program>/main.js and /usr/bin/<PN> links to it: the bundle starts with
#     `#!/usr/bin/env node`, so that one word is the container's entrypoint.
#   - PV_EXAMPLE_FILES, paths relative to containers/<name>/. Manifests (args.json, services.json,
#     config.json, mdev.json, network.json) are staged as ${WORKDIR}/${PN}.<file>, where
#     container-pvrexport reads them: args.json goes through `pvr app add --arg-json`, and
#     services.json is copied beside run.json in the state (Pantavisor reads it only there).
#     rootfs/<path> is copied to /<path> in the image, over what packages installed.
#   - PV_EXAMPLE_PACKAGES: extra packages for the image (dbus, weston).
#   - PV_EXAMPLE_ADDONS: native addons (recipe pv-example-addon-<lib>); each .node is linked beside
#     the bundle, where the addon's loader requires it (path.join(__dirname, "<target>.node")).
#   - PV_EXAMPLE_PVR_ARGS: extra `pvr app add` arguments (e.g. --config=Cmd=...).
#
# The manifests live once, in containers/<name>/, for the local mesh, the tests and this layer.
#
# A missing bundle or file does not skip the recipe (BitBake would then silently build
# meta-pantavisor's same-named recipe) and does not break parsing of other recipes: it is left out
# of SRC_URI and building this target fails in do_fetch, naming the command to run.

# Defaults a recipe may set before `inherit pv-example-node`. They are set before inheriting
# container-pvrexport, whose own weak defaults (group root, permissive mdev rule) then do not apply.
PV_EXAMPLE_FILES ?= ""
PV_EXAMPLE_PACKAGES ?= ""
PV_EXAMPLE_ADDONS ?= ""
PV_EXAMPLE_PVR_ARGS ?= ""
# The mesh examples run in the `app` group (restart policy "container"), as upstream's do.
PVR_APP_ADD_GROUP ?= "app"
# No catch-all mdev rule: a container gets the device nodes it asks for, nothing more.
PVRIMAGE_AUTO_MDEV ?= "0"

inherit image container-pvrexport

LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

PV_EXAMPLE_NAME = "${@d.getVar('PN').replace('pv-example-', '', 1)}"
# Set by the anonymous function below from container.json.
PV_EXAMPLE_PROGRAM = "${PV_EXAMPLE_NAME}"
# A fixed path: the addon recipes install their .node files under it too.
PV_EXAMPLE_LIBDIR = "/usr/lib/pv-examples"

# A small image: Node and a shell, nothing recommended, no image features. `inherit core-image`
# would pull package groups and extra image types. container-pvrexport adds pvcontrol itself, and
# appends `pvrexportit` to IMAGE_FSTYPES: clearing it here drops the machine's default types
# (writing "pvrexportit" here would list it twice).
IMAGE_INSTALL = "busybox nodejs ${PV_EXAMPLE_PACKAGES} ${@' '.join('pv-example-addon-' + a for a in d.getVar('PV_EXAMPLE_ADDONS').split())}"
IMAGE_FEATURES = ""
IMAGE_LINGUAS = ""
NO_RECOMMENDATIONS = "1"
IMAGE_FSTYPES = ""

# Written out in full: `+=` onto the class's weak default would silently drop the /var volume.
PVR_APP_ADD_EXTRA_ARGS = "--volume ovl:/var:permanent --config=Entrypoint=/usr/bin/${PN} ${PV_EXAMPLE_PVR_ARGS}"

FILESEXTRAPATHS:prepend = "${PV_EXAMPLES_ROOT}:"

python __anonymous() {
    import json, os

    root = d.getVar("PV_EXAMPLES_ROOT")
    name = d.getVar("PV_EXAMPLE_NAME")
    folder = os.path.join(root, "containers", name)

    # Re-parse when these appear, change or vanish (the parse cache keys on them).
    container_json = os.path.join(folder, "container.json")
    bb.parse.mark_dependency(d, container_json)
    program = name
    missing = []
    if os.path.exists(container_json):
        try:
            with open(container_json) as f:
                program = json.load(f)["program"]
        except (ValueError, KeyError, TypeError):
            missing.append("containers/%s/container.json with a \"program\"" % name)
    d.setVar("PV_EXAMPLE_PROGRAM", program)

    wanted = ["dist/%s/main.js" % program]
    wanted += ["containers/%s/%s" % (name, f) for f in d.getVar("PV_EXAMPLE_FILES").split()]
    for path in wanted:
        bb.parse.mark_dependency(d, os.path.join(root, path))
        if os.path.exists(os.path.join(root, path)):
            d.appendVar("SRC_URI", " file://%s" % path)
        else:
            missing.append(path)
    d.setVar("PV_EXAMPLE_MISSING", ", ".join(missing))
}

python pv_example_require_inputs() {
    missing = d.getVar("PV_EXAMPLE_MISSING")
    if missing:
        root = d.getVar("PV_EXAMPLES_ROOT")
        bb.fatal("%s: not in %s: %s\nThe bundles (dist/) are built on the host, before BitBake runs:\n    cd %s && npm ci && npm run build"
                 % (d.getVar("PN"), root, missing, root))
}
pv_example_require_inputs[vardepsexclude] = "PV_EXAMPLES_ROOT"
do_fetch[prefuncs] += "pv_example_require_inputs"

# container-pvrexport reads ${WORKDIR}/${PN}.<manifest>; file:// keeps the repo's relative path.
python pv_example_stage_manifests() {
    import shutil, os
    workdir = d.getVar("WORKDIR")
    for f in d.getVar("PV_EXAMPLE_FILES").split():
        if not f.startswith("rootfs/"):
            shutil.copyfile(os.path.join(workdir, "containers", d.getVar("PV_EXAMPLE_NAME"), f),
                            os.path.join(workdir, "%s.%s" % (d.getVar("PN"), f)))
}
do_unpack[postfuncs] += "pv_example_stage_manifests"

pv_example_install() {
    program_dir=${IMAGE_ROOTFS}${PV_EXAMPLE_LIBDIR}/${PV_EXAMPLE_PROGRAM}
    install -d $program_dir ${IMAGE_ROOTFS}${bindir}
    install -m 0755 ${WORKDIR}/dist/${PV_EXAMPLE_PROGRAM}/main.js $program_dir/main.js
    ln -sf ${PV_EXAMPLE_LIBDIR}/${PV_EXAMPLE_PROGRAM}/main.js ${IMAGE_ROOTFS}${bindir}/${PN}
    for addon in ${IMAGE_ROOTFS}${PV_EXAMPLE_LIBDIR}/addons/*.node; do
        [ -e "$addon" ] || continue
        ln -sf ${PV_EXAMPLE_LIBDIR}/addons/$(basename $addon) $program_dir/
    done
    if [ -d ${WORKDIR}/containers/${PV_EXAMPLE_NAME}/rootfs ]; then
        cp -R --no-preserve=ownership ${WORKDIR}/containers/${PV_EXAMPLE_NAME}/rootfs/. ${IMAGE_ROOTFS}/
    fi
}
ROOTFS_POSTPROCESS_COMMAND += "pv_example_install; "
