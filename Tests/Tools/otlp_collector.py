#!/usr/bin/env python3
"""A stand-in OpenTelemetry collector for the tests: accepts OTLP/HTTP posts (POST /v1/traces, …),
answers 200 with an empty protobuf response, and prints one line per post: `POST <path> <body as hex>`.
The first line is `PORT <n>`."""
import http.server
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        print(f"POST {self.path} {body.hex()}", flush=True)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"PORT {server.server_address[1]}", flush=True)
server.serve_forever()
