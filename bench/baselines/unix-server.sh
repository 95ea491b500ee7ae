#!/bin/sh
# Benchmark baseline for unix-server: the upstream example's provider (meta-pantavisor
# pv-unix-server.sh) as it is, with the socket path as an argument: socat forks one child per
# connection and each child runs /bin/cat to echo.
#
# Run: sh bench/baselines/unix-server.sh [SOCKET]     (default /run/example/raw.sock)

SOCKET="${1:-/run/example/raw.sock}"
mkdir -p "$(dirname "$SOCKET")"
rm -f "$SOCKET"

echo "Starting raw Unix socket server on $SOCKET..."
# Use socat to echo back whatever is received
exec socat UNIX-LISTEN:"$SOCKET",fork EXEC:/bin/cat
