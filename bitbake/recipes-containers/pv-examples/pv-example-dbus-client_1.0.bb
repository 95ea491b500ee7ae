SUMMARY = "pv-xconnect example in TypeScript: D-Bus consumer"
DESCRIPTION = "Requires `system-bus` (role root, interface org.pantavisor.Example) at /run/dbus/system_bus_socket and calls GetInfo every 5 s; /etc/pv-role names its role for the log."

inherit pv-example-node
