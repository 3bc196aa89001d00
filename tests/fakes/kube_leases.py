"""A FAKE Kubernetes API server for Leases only (coordination.k8s.io/v1), on 127.0.0.1.

Enough of the real server's behaviour for leader election: create (409 if it exists), read (404
if absent), replace guarded by ``metadata.resourceVersion`` (409 on a stale one). ``leases`` holds
the stored objects as JSON; ``write_kubeconfig(path)`` points a client at it.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fakes.kube_api import FakeKubeApi

_PATH = re.compile(r"^/apis/coordination\.k8s\.io/v1/namespaces/([^/]+)/leases(?:/([^/]+))?$")


class FakeLeaseApi:
    def __init__(self) -> None:
        self.leases: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._version = 1
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeLeaseApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    write_kubeconfig = FakeKubeApi.write_kubeconfig  # the same kubeconfig, pointing at this server

    def holder(self, namespace: str, name: str) -> str | None:
        with self._lock:
            lease = self.leases.get((namespace, name))
            return lease["spec"].get("holderIdentity") if lease else None

    def _store(
        self, key: tuple[str, str], obj: dict[str, Any], *, create: bool
    ) -> tuple[int, dict[str, Any]]:
        with self._lock:
            current = self.leases.get(key)
            if create and current is not None:
                return 409, _status(409, "AlreadyExists")
            if not create:
                if current is None:
                    return 404, _status(404, "NotFound")
                if obj.get("metadata", {}).get("resourceVersion") != current["metadata"]["resourceVersion"]:
                    return 409, _status(409, "Conflict")
            self._version += 1
            obj.setdefault("metadata", {}).update(
                {"name": key[1], "namespace": key[0], "resourceVersion": str(self._version)}
            )
            obj["apiVersion"], obj["kind"] = "coordination.k8s.io/v1", "Lease"
            self.leases[key] = obj
            return (201 if create else 200), obj


def _status(code: int, reason: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code}


def _handler_for(api: FakeLeaseApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _key(self) -> tuple[str, str | None] | None:
            match = _PATH.match(self.path.split("?")[0])
            return (match.group(1), match.group(2)) if match else None

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            data: dict[str, Any] = json.loads(self.rfile.read(length) or b"{}")
            return data

        def do_GET(self) -> None:
            key = self._key()
            with api._lock:
                lease = api.leases.get((key[0], key[1])) if key and key[1] else None
            self._send(*((200, lease) if lease else (404, _status(404, "NotFound"))))

        def do_POST(self) -> None:
            key, body = self._key(), self._body()
            if key is None:
                self._send(404, _status(404, "NotFound"))
                return
            self._send(*api._store((key[0], body["metadata"]["name"]), body, create=True))

        def do_PUT(self) -> None:
            key, body = self._key(), self._body()
            if key is None or key[1] is None:
                self._send(404, _status(404, "NotFound"))
                return
            self._send(*api._store((key[0], key[1]), body, create=False))

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
