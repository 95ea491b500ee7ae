#!/bin/sh
# Benchmark baseline for dbus-server: the upstream example's provider (meta-pantavisor
# pv-dbus-server.sh): start a private system bus, wait for its socket, then run the Python service.
# Differences from upstream, so that it runs beside ours without root-owned paths: the socket and
# the bus config are arguments (the bench passes dbus-server's own config, so the same policy
# applies), the machine id is the host's (no dbus-uuidgen --ensure), and the wait polls every
# 10 ms instead of every second (upstream's `sleep 1` would add up to a second to its start).
#
# Run: sh bench/baselines/dbus-server.sh SOCKET CONFIG

SOCKET="${1:-/run/dbus/system_bus_socket}"
CONFIG="${2:-/etc/dbus-1/pv-example-system.conf}"
HERE="$(dirname "$0")"

# Start dbus-daemon
mkdir -p "$(dirname "$SOCKET")"
rm -f "$SOCKET"
dbus-daemon --config-file="$CONFIG" --address="unix:path=$SOCKET" --nofork --nopidfile &

# Wait for socket
while [ ! -S "$SOCKET" ]; do
    sleep 0.01
done

# Start the python service (Debian's interpreter: python3-dbus and python3-gi are installed for it)
exec /usr/bin/python3 "$HERE/dbus-server.py" "$SOCKET"
