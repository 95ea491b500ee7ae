#!/usr/bin/env python3
# Benchmark baseline for dbus-server: the upstream example's service (meta-pantavisor
# pv-dbus-server.py) with Debian's bindings: upstream uses pydbus on GLib; this uses python3-dbus
# (dbus-python) on python3-gi's GLib main loop, the same loop underneath. Same bus name, object,
# interface and answer as containers/dbus-server: org.pantavisor.Example.GetInfo() -> s.
#
# Run: python3 bench/baselines/dbus-server.py [SOCKET]     (default /run/dbus/system_bus_socket)
import json
import sys

import dbus
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

BUS_NAME = "org.pantavisor.Example"
OBJECT_PATH = "/org/pantavisor/Example"


class ExampleService(dbus.service.Object):
    @dbus.service.method(BUS_NAME, in_signature="", out_signature="s")
    def GetInfo(self):
        return json.dumps({
            "service": "dbus-example",
            "status": "active"
        })


if __name__ == '__main__':
    socket_path = sys.argv[1] if len(sys.argv) > 1 else "/run/dbus/system_bus_socket"
    DBusGMainLoop(set_as_default=True)
    bus = dbus.bus.BusConnection(f"unix:path={socket_path}")
    name = dbus.service.BusName(BUS_NAME, bus, do_not_queue=True)
    ExampleService(bus, OBJECT_PATH)

    loop = GLib.MainLoop()
    print(f"Starting D-Bus example service on {BUS_NAME}...", flush=True)
    loop.run()
