# pv-example-node: what every TypeScript example container shares, so that a recipe states only
# what differs (its SUMMARY and DESCRIPTION) and two recipes diff cleanly.
#
# The recipe pv-example-<name> packages the repository's containers/<name>/. What goes into it is
# read at parse time from containers/<name>/container.json, the file `npm run pack` reads too, so
# a recipe-built export and a packed one are made from the same facts:
#   "program"   the program, built on the host (`npm ci && npm run build`): dist/<program>/ (main.js,
#               the entrypoint, with app.js and app.cache beside it). It is installed in
#               /usr/lib/pv-examples/<program>/ and /usr/bin/<PN> links
#               to its main.js: that starts with `#!/usr/bin/env node`, so that one word is the
#               container's entrypoint. (A variant such as dbus-client-nobody reuses a program.)
#   "files"     paths relative to containers/<name>/. Manifests (args.json, services.json,
#               config.json, mdev.json, network.json) are staged as ${WORKDIR}/${PN}.<file>, where
#               container-pvrexport reads them: args.json goes through `pvr app add --arg-json`,
#               and services.json is copied beside run.json in the state (Pantavisor reads it only
#               there). rootfs/<path> is copied to /<path> in the image, over what packages installed.
#   "packages"  extra packages for the image: each entry's "yocto" name (dbus, weston, libdrm);
#               its "debian" names are what pack takes from a Debian host instead.
#   "addons"    native addons (recipe pv-example-addon-<lib>); each .node is linked beside the
#               bundle, where the addon's loader requires it (path.join(__dirname, "<target>.node")).
#   "autoMdev"  true: container-pvrexport's catch-all mdev rule (PVRIMAGE_AUTO_MDEV = 1).
# A recipe may still set PV_EXAMPLE_PVR_ARGS (extra `pvr app add` arguments, e.g. --config=Cmd=...).
#
# A missing bundle or file, or a container.json that cannot be read, does not skip the recipe
# (BitBake would then silently build meta-pantavisor's same-named recipe) and does not break
# parsing of other recipes: what is missing is left out of SRC_URI and building this target fails
# in do_fetch, naming the problem and the command to run.

def pv_example_facts(d):
    """containers/<PV_EXAMPLE_NAME>/container.json, with defaults. Never raises (a parse error here
    would break parsing of every recipe): a problem is returned in "problem" for do_fetch to report."""
    import json, os
    name = d.getVar("PV_EXAMPLE_NAME")
    path = os.path.join(d.getVar("PV_EXAMPLES_ROOT"), "containers", name, "container.json")
    facts = {"program": name, "files": [], "packages": [], "addons": [], "autoMdev": False, "problem": ""}
    try:
        with open(path) as f:
            loaded = json.load(f)
    except (OSError, ValueError) as e:
        facts["problem"] = "containers/%s/container.json: %s" % (name, e)
        return facts
    lists = ("files", "addons")
    if not isinstance(loaded, dict) or not isinstance(loaded.get("program"), str) \
            or any(not isinstance(loaded.get(k, []), list) for k in lists + ("packages",)) \
            or any(not isinstance(p, dict) or not isinstance(p.get("yocto"), str) for p in loaded.get("packages", [])):
        facts["problem"] = "containers/%s/container.json: needs a \"program\" string, lists for files/addons and {\"yocto\": NAME} packages" % name
        return facts
    facts.update({k: loaded[k] for k in ("program",) + lists if k in loaded})
    facts["packages"] = [p["yocto"] for p in loaded.get("packages", [])]
    facts["autoMdev"] = loaded.get("autoMdev") is True
    return facts
pv_example_facts[vardepsexclude] = "PV_EXAMPLES_ROOT"

PV_EXAMPLE_PVR_ARGS ?= ""
# The mesh examples run in the `app` group (restart policy "container"), as upstream's do.
PVR_APP_ADD_GROUP ?= "app"
# No catch-all mdev rule unless container.json asks ("autoMdev"): a container gets the device
# nodes it asks for, nothing more. Set before inheriting container-pvrexport, whose weak defaults
# (group root, permissive mdev rule) then do not apply.
PVRIMAGE_AUTO_MDEV ?= "${@'1' if pv_example_facts(d)['autoMdev'] else '0'}"

inherit image container-pvrexport

LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

PV_EXAMPLE_NAME = "${@d.getVar('PN').replace('pv-example-', '', 1)}"
PV_EXAMPLE_PROGRAM = "${@pv_example_facts(d)['program']}"
PV_EXAMPLE_FILES = "${@' '.join(pv_example_facts(d)['files'])}"
PV_EXAMPLE_PACKAGES = "${@' '.join(pv_example_facts(d)['packages'])}"
PV_EXAMPLE_ADDONS = "${@' '.join(pv_example_facts(d)['addons'])}"
# A fixed path: the addon recipes install their .node files under it too.
PV_EXAMPLE_LIBDIR = "/usr/lib/pv-examples"

# A small image: Node and a shell, nothing recommended, no image features. `inherit core-image`
# would pull package groups and extra image types; base-files and base-passwd bring the mount
# points (/proc, /sys, /dev) and /etc/passwd that `inherit image` alone leaves out.
# container-pvrexport adds pvcontrol itself, and appends `pvrexportit` to IMAGE_FSTYPES: clearing
# it here drops the machine's default types (writing "pvrexportit" here would list it twice).
IMAGE_INSTALL = "base-files base-passwd busybox nodejs ${PV_EXAMPLE_PACKAGES} ${@' '.join('pv-example-addon-' + a for a in d.getVar('PV_EXAMPLE_ADDONS').split())}"
IMAGE_FEATURES = ""
IMAGE_LINGUAS = ""
NO_RECOMMENDATIONS = "1"
IMAGE_FSTYPES = ""

# Written out in full: `+=` onto the class's weak default would silently drop the /var volume.
PVR_APP_ADD_EXTRA_ARGS = "--volume ovl:/var:permanent --config=Entrypoint=/usr/bin/${PN} ${PV_EXAMPLE_PVR_ARGS}"

FILESEXTRAPATHS:prepend = "${PV_EXAMPLES_ROOT}:"

python __anonymous() {
    import os

    root = d.getVar("PV_EXAMPLES_ROOT")
    name = d.getVar("PV_EXAMPLE_NAME")
    # Re-parse when these appear, change or vanish (the parse cache keys on them).
    bb.parse.mark_dependency(d, os.path.join(root, "containers", name, "container.json"))
    facts = pv_example_facts(d)
    missing = [facts["problem"]] if facts["problem"] else []

    # The program is its folder: main.js (the entrypoint, a loader), app.js (the bundle) and
    # app.cache (V8's code for it, made by the host's node; a target node of another version refuses
    # it and compiles app.js instead).
    wanted = ["dist/%s/%s" % (facts["program"], f) for f in ("main.js", "app.js", "app.cache")]
    wanted += ["containers/%s/%s" % (name, f) for f in facts["files"]]
    for path in wanted:
        bb.parse.mark_dependency(d, os.path.join(root, path))
        if os.path.exists(os.path.join(root, path)):
            d.appendVar("SRC_URI", " file://%s" % path)
        else:
            missing.append("%s is missing" % path)
    d.setVar("PV_EXAMPLE_MISSING", "; ".join(missing))
}

python pv_example_require_inputs() {
    missing = d.getVar("PV_EXAMPLE_MISSING")
    if missing:
        root = d.getVar("PV_EXAMPLES_ROOT")
        bb.fatal("%s: %s (in %s)\nThe bundles (dist/) are built on the host, before BitBake runs:\n    cd %s && npm ci && npm run build"
                 % (d.getVar("PN"), missing, root, root))
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
    install -m 0644 ${WORKDIR}/dist/${PV_EXAMPLE_PROGRAM}/app.js ${WORKDIR}/dist/${PV_EXAMPLE_PROGRAM}/app.cache $program_dir/
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
