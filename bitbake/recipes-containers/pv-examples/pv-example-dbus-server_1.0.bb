SUMMARY = "pv-xconnect example in TypeScript: D-Bus provider with its own bus"
DESCRIPTION = "Runs a dbus-daemon and owns org.pantavisor.Example (and org.pantavisor.Example.Private, root only); exports the bus as `system-bus` (type dbus). Ships the bus policy and the passwd/group users that pv-xconnect maps roles to."

inherit pv-example-node
