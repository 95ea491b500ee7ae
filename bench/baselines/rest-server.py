#!/usr/bin/env python3
# Benchmark baseline for rest-server: the upstream example's provider (meta-pantavisor
# pv-rest-server.py), a Python http.server bound to a unix socket, answering GET /info with the same
# JSON document as containers/rest-server. Written the way upstream wrote it: BaseHTTPRequestHandler
# (HTTP/1.0, one request per connection), a single-threaded HTTPServer, json.dumps.
#
# Run: python3 bench/baselines/rest-server.py [SOCKET]     (default /run/example/api.sock)
import json
import os
import socket
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

SOCKET_PATH = "/run/example/api.sock"


class InfoHandler(BaseHTTPRequestHandler):
    def address_string(self):
        # Unix sockets have no peer address to log.
        return "unix-client"

    def log_message(self, format, *args):
        # One line per request on stderr would measure the terminal, not the server.
        pass

    def do_GET(self):
        if self.path != "/info":
            self.send_response(404)
            self.end_headers()
            return
        body = json.dumps({
            "service": "rest-example",
            "status": "active",
            "role": self.headers.get("X-PV-Role", "unknown"),
            "client": self.headers.get("X-PV-Client", "unknown"),
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        # Upstream sends no Content-Length and lets the close end the body. Behind pv-xconnect
        # master the consumer sees that close only after 60 s, and load generators count such
        # replies as errors, so the baseline frames its body like rest-server does.
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class UnixHTTPServer(HTTPServer):
    address_family = socket.AF_UNIX
    # Upstream keeps socketserver's backlog of 5: with 10 concurrent clients the extra connects
    # fail at once (EAGAIN) and the load generator retries in a busy loop, which measures the
    # retries, not the server. A backlog like Node's lets the connections queue instead.
    request_queue_size = 511

    def server_bind(self):
        self.socket.bind(self.server_address)
        self.server_address = self.socket.getsockname()


def run(socket_path):
    if os.path.exists(socket_path):
        os.remove(socket_path)
    os.makedirs(os.path.dirname(socket_path), exist_ok=True)
    httpd = UnixHTTPServer(socket_path, InfoHandler)
    print(f"Starting REST server on {socket_path}...", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
        os.remove(socket_path)


if __name__ == "__main__":
    run(sys.argv[1] if len(sys.argv) > 1 else SOCKET_PATH)
