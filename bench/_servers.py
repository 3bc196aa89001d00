"""Small real servers the benchmarks share: a free port and an HTTP/1.1 upstream on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["free_port", "start_upstream"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_upstream(
    body: str, delay: float = 0.0, content_type: str = "text/plain"
) -> tuple[ThreadingHTTPServer, int]:
    """Answers every GET and POST (its body read and dropped) with ``body`` after ``delay`` seconds;
    returns the server and its port."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = 65536  # head and body in one write: no delayed-ACK stall per request
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            if delay:
                time.sleep(delay)
            encoded = body.encode()
            self.send_response(200)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.do_GET()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]
