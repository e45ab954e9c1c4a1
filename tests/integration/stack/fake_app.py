"""A stand-in for a service: answers /healthz with the XF_* ports it was given, on XF_INTAKE_PORT.

Run by the integration test as `python -m tests.integration.stack.fake_app` through the stack's app
machinery, so that starting, health-checking and stopping a service are exercised without the real
services (which are written elsewhere).
"""

from __future__ import annotations

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != "/healthz":
            self.send_error(404)
            return
        body = json.dumps({"kafka_port": os.environ.get("XF_KAFKA_PORT")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    host = os.environ.get("XF_HOST", "127.0.0.1")
    port = int(os.environ["XF_INTAKE_PORT"])
    ThreadingHTTPServer((host, port), Handler).serve_forever()


if __name__ == "__main__":
    main()
