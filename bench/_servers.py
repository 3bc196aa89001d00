"""Small real servers the benchmarks share: a free port, an HTTP/1.1 upstream on 127.0.0.1, and a real
Envoy serving a gitxds config from its static bootstrap."""

from __future__ import annotations

import itertools
import os
import socket
import statistics
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from google.protobuf.json_format import MessageToJson

from gitxds.compile import compile_directory
from gitxds.gitops.envoy_check import find_envoy
from gitxds.translators.xds import static_bootstrap

__all__ = ["free_port", "p99", "start_upstream", "static_envoy"]

_envoys = itertools.count()


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


@contextmanager
def static_envoy(config_text: str, workdir: Path, name: str) -> Iterator[None]:
    """A real Envoy serving gateway ``edge`` of ``config_text`` (gitxds YAML), ready, until the block ends."""
    config_dir = workdir / name.replace(" ", "-")
    config_dir.mkdir()
    (config_dir / "config.yaml").write_text(config_text)
    result = compile_directory(config_dir)
    assert not result.diagnostics, [str(d) for d in result.diagnostics]
    admin = free_port()
    path = workdir / f"{config_dir.name}.json"
    path.write_text(MessageToJson(static_bootstrap(result.model, "edge", {}, admin_port=admin)))
    base_id = os.getpid() * 16 + next(_envoys) % 16
    command = [find_envoy() or "envoy", "-c", str(path), "--base-id", str(base_id)]
    command += ["--disable-hot-restart", "--concurrency", "1", "--log-level", "error"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_ready(admin)
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_ready(admin: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin}/ready", timeout=1) as response:
                if response.read().strip() == b"LIVE":
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("Envoy did not become ready")


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]
