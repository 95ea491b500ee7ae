SUMMARY = "pv-xconnect example in TypeScript: D-Bus provider with its own bus"
DESCRIPTION = "Runs a dbus-daemon and owns org.pantavisor.Example (and org.pantavisor.Example.Private, root only); exports the bus as `system-bus` (type dbus). Ships the bus policy and the passwd/group users that pv-xconnect maps roles to."

PV_EXAMPLE_FILES = "services.json \
                    rootfs/etc/dbus-1/pv-example-system.conf \
                    rootfs/etc/dbus-1/system.d/org.pantavisor.Example.conf \
                    rootfs/etc/dbus-1/system.d/org.pantavisor.Example.Private.conf \
                    rootfs/etc/passwd \
                    rootfs/etc/group"
PV_EXAMPLE_PACKAGES = "dbus"

inherit pv-example-node
