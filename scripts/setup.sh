#!/usr/bin/env bash
# Installs what the demo, the tests and the benchmarks need, and nothing when it is already there:
#   - Debian packages (apt-get, when run as root; otherwise one line naming what to install),
#   - the npm dependencies (npm ci, when package-lock.json changed since the last install).
# Used by `npm start`, `npm test` and `npm run bench`; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# One line per need, so a reader sees why each package is here.
APT_PACKAGES=(
  dbus               # dbus-daemon for the D-Bus example
  python3-dbus       # the D-Bus benchmark baseline (a python D-Bus service, as upstream's)
  python3-gi         # ... and its GLib main loop
  socat              # the unix echo benchmark baseline (upstream's example is socat)
  curl               # README's "try it" commands
  g++ make python3   # node-gyp builds the native addons
  gcc                # the benchmark compiles a small C echo server (the physical limit)
  pkgconf            # binding.gyp asks pkg-config for libdrm's and wayland's flags
  libdrm-dev         # the libdrm binding (native/libdrm)
  qemu-system-x86    # the real-KMS test boots a Debian kernel with the bochs DRM driver
  busybox-static     # ... whose initramfs runs busybox as /init
  libwayland-dev     # the libwayland-client binding (native/wayland)
  wayland-protocols  # xdg-shell.xml, turned into C by wayland-scanner at build time
  weston             # the compositor wayland-server launches (headless here); weston-screenshooter for the tests
  chromium           # the mesh-view page tested in a real headless browser (puppeteer-core drives /usr/bin/chromium)
  xkb-data           # Weston cannot start without the XKB tree: the real-KMS Wayland test copies it into its guest, npm run pack into wayland-server's image
  fonts-dejavu-core  # text in mesh-view's screenshot, and the font Weston's desktop shell draws its panel clock with in the guest
  squashfs-tools     # npm run pack: mksquashfs makes each image's root.squashfs, the tests unsquash it
)

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

stamp=node_modules/.pv-examples-lock.sha256
if ! sha256sum --status -c "$stamp" 2>/dev/null; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
  sha256sum package-lock.json > "$stamp"
fi
