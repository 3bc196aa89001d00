"""A Git remote over smart HTTP that requires credentials: ``git http-backend`` behind a tiny server.

``GitHttpServer(root, read={"Basic ..." or "Bearer ..."}, write={...})`` serves every bare repository
under ``root`` on 127.0.0.1 (a port chosen at run time): ``url(name)``. A request whose
``Authorization`` header is not in ``read`` (fetch, clone) or ``write`` (push) is answered 401, or
403 when it carries a known read-only credential trying to push. ``requests`` keeps
``(service, status)`` of each request; ``authorizations`` every header value received (to check the
client sent the credential, never the test's logs). ``basic(user, password)`` builds a header value.
"""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

__all__ = ["GitHttpServer", "basic"]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class GitHttpServer:
    def __init__(self, root: Path, *, read: set[str], write: set[str]) -> None:
        self.root = root
        self.read = read | write
        self.write = write
        self.requests: list[tuple[str, int]] = []
        self.authorizations: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> GitHttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, repository: str) -> str:
        return f"http://127.0.0.1:{self.port}/{repository}"

    def pushes(self) -> list[int]:
        """Statuses of the requests that started a push (receive-pack advertisements)."""
        with self._lock:
            return [status for service, status in self.requests if service == "receive-pack-refs"]

    def _record(self, service: str, status: int, authorization: str | None) -> None:
        with self._lock:
            self.requests.append((service, status))
            if authorization:
                self.authorizations.append(authorization)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                service = _service(parts.path, parse_qs(parts.query))
                authorization = self.headers.get("Authorization")
                allowed = server.write if service.startswith("receive-pack") else server.read
                if authorization not in allowed:
                    status = 403 if authorization in server.read else 401
                    server._record(service, status, authorization)
                    self.send_response(status)
                    self.send_header("WWW-Authenticate", 'Basic realm="gitxds test"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                server._record(service, 200, authorization)
                self._backend(parts.path, parts.query)

            def _backend(self, path: str, query: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                env = {
                    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "GIT_PROJECT_ROOT": str(server.root),
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "REMOTE_USER": "tester",  # receive-pack is served to authenticated users only
                    "REQUEST_METHOD": self.command,
                    "PATH_INFO": path,
                    "QUERY_STRING": query,
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)),
                    "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                    "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                }
                out = subprocess.run(
                    ["git", "http-backend"], input=body, env=env, capture_output=True, check=False, timeout=60
                ).stdout
                head, _, payload = out.partition(b"\r\n\r\n")
                headers = [line.split(":", 1) for line in head.decode().split("\r\n") if ":" in line]
                status = next((int(v.split()[0]) for k, v in headers if k.lower() == "status"), 200)
                self.send_response(status)
                for key, value in headers:
                    if key.lower() != "status":
                        self.send_header(key, value.strip())
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler


def _service(path: str, query: dict[str, list[str]]) -> str:
    """What a request is for: ``upload-pack`` (fetch) or ``receive-pack`` (push), ``-refs`` for the
    advertisement that starts each."""
    if path.endswith("/info/refs"):
        return query.get("service", ["dumb"])[0].removeprefix("git-") + "-refs"
    return path.rsplit("/", 1)[-1].removeprefix("git-")
