"""A FAKE Kubernetes API server: just enough of EndpointSlices (discovery.k8s.io/v1) and Pods (v1)
for discovery tests.

No real API server can run here, so the real ``kubernetes`` client talks HTTP to this fake. It speaks
list and watch (``?watch=true``: a chunked stream of JSON events ADDED / MODIFIED / DELETED from a
``resourceVersion``), a ``labelSelector`` of ``key=value`` terms joined by ``,``, ``timeoutSeconds``,
an ``ERROR`` event with code 410 when the requested version was compacted away, injected error
statuses, and dropped connections. ``sent_at`` records when each event version was first written to
a watch stream. As a real API server does, a watch with a label selector sees an object that stops
matching as DELETED and one that starts matching as ADDED.
"""

from __future__ import annotations

import copy
import json
import re
import select
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

_PATHS = {
    "endpointslices": re.compile(r"^/apis/discovery\.k8s\.io/v1/namespaces/([^/]+)/endpointslices$"),
    "pods": re.compile(r"^/api/v1/namespaces/([^/]+)/pods$"),
}
_RESOURCE_OF_KIND = {"EndpointSlice": "endpointslices", "Pod": "pods"}
_LIST_KIND = {"endpointslices": ("discovery.k8s.io/v1", "EndpointSliceList"), "pods": ("v1", "PodList")}
SERVICE_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True)
class Event:
    version: int
    resource: str  # endpointslices or pods
    namespace: str
    kind: str  # ADDED, MODIFIED or DELETED
    obj: dict[str, Any]
    before: dict[str, Any] | None  # the object as it was (for MODIFIED and DELETED)


def endpoint(
    address: str,
    *,
    ready: bool | None = True,
    serving: bool | None = None,
    terminating: bool | None = None,
    pod: str | None = None,
) -> dict[str, Any]:
    """One EndpointSlice endpoint; ``None`` leaves a condition unset; ``pod`` names its targetRef."""
    conditions = {
        key: value
        for key, value in (("ready", ready), ("serving", serving), ("terminating", terminating))
        if value is not None
    }
    found: dict[str, Any] = {"addresses": [address], "conditions": conditions}
    if pod is not None:
        found["targetRef"] = {"kind": "Pod", "name": pod}
    return found


def pod(name: str, address: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A running Pod with ``labels`` at ``address``."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": dict(labels or {}), "uid": f"uid-{name}"},
        "spec": {"containers": [{"name": "app", "image": "app"}]},
        "status": {"phase": "Running", "podIP": address, "podIPs": [{"ip": address}]},
    }


def endpoint_slice(
    name: str,
    service: str,
    endpoints: Sequence[dict[str, Any]],
    *,
    ports: Iterable[tuple[str, int]] = (("http", 8080),),
    address_type: str = "IPv4",
) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "labels": {SERVICE_LABEL: service}},
        "addressType": address_type,
        "endpoints": list(endpoints),
        "ports": [{"name": port_name, "port": number, "protocol": "TCP"} for port_name, number in ports],
    }


class FakeKubeApi:
    """A FAKE API server on 127.0.0.1 (``with FakeKubeApi() as api``); ``url`` and ``write_kubeconfig``."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._objects: dict[tuple[str, str, str], dict[str, Any]] = {}  # (resource, namespace, name)
        self._events: list[Event] = []
        self._version = 100
        self._compacted_through = -1  # watches from a version <= this get 410
        self._failures: list[int] = []
        self._drop_generation = 0
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.sent_at: dict[int, float] = {}  # event version -> monotonic time first written to a watch
        self.open_watches = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeKubeApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.drop_connections()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeKubeApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def write_kubeconfig(self, path: Path) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": "fake-token"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
            "current-context": "fake",
        }
        path.write_text(json.dumps(config))
        return path

    # -- changes, as the cluster would make them ---------------------------------------------------

    def apply(self, namespace: str, obj: dict[str, Any]) -> int:
        """Create or replace an EndpointSlice or a Pod; returns the event's resourceVersion."""
        key = (_RESOURCE_OF_KIND[obj["kind"]], namespace, obj["metadata"]["name"])
        kind = "MODIFIED" if key in self._objects else "ADDED"
        return self._record(key, kind, copy.deepcopy(obj))

    def delete(self, namespace: str, name: str, resource: str = "endpointslices") -> int:
        obj = self._objects[(resource, namespace, name)]
        return self._record((resource, namespace, name), "DELETED", copy.deepcopy(obj))

    def relabel(self, namespace: str, pod_name: str, labels: dict[str, str]) -> int:
        """Replace a Pod's labels, as ``kubectl label --overwrite`` would; returns the event's version."""
        changed = copy.deepcopy(self._objects[("pods", namespace, pod_name)])
        changed["metadata"]["labels"] = dict(labels)
        return self.apply(namespace, changed)

    def _record(self, key: tuple[str, str, str], kind: str, obj: dict[str, Any]) -> int:
        resource, namespace, _ = key
        with self._lock:
            self._version += 1
            obj["metadata"]["namespace"] = namespace
            obj["metadata"]["resourceVersion"] = str(self._version)
            before = self._objects.get(key)
            if kind == "DELETED":
                del self._objects[key]
            else:
                self._objects[key] = obj
            self._events.append(Event(self._version, resource, namespace, kind, copy.deepcopy(obj), before))
            self._lock.notify_all()
            return self._version

    # -- misbehaviour ------------------------------------------------------------------------------

    def compact(self) -> None:
        """Forget history: watches resuming from any version seen so far get 410 Gone."""
        with self._lock:
            self._compacted_through = self._version
            self._version += 1  # the store moves on, so a fresh list can watch again
            self._lock.notify_all()

    def expire_watches(self) -> None:
        """End every open watch with an ERROR 410 event, as an API server does after compaction."""
        self.compact()

    def fail_next(self, count: int, status: int = 500) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    def drop_connections(self) -> None:
        """Cut every open watch stream without ending it properly."""
        with self._lock:
            self._drop_generation += 1
            self._lock.notify_all()

    def lists(self, resource: str = "endpointslices") -> int:
        return sum(
            1 for path, query in self.requests if path.endswith(resource) and query.get("watch") != "true"
        )

    def watches(self, resource: str = "endpointslices") -> int:
        return sum(
            1 for path, query in self.requests if path.endswith(resource) and query.get("watch") == "true"
        )

    # -- serving -----------------------------------------------------------------------------------

    def _take_failure(self) -> int | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def _list_body(self, resource: str, namespace: str, selector: str) -> dict[str, Any]:
        with self._lock:
            items = [
                copy.deepcopy(obj)
                for (kind, ns, _), obj in sorted(self._objects.items())
                if (kind, ns) == (resource, namespace) and _selected(obj, selector)
            ]
            api_version, list_kind = _LIST_KIND[resource]
            return {
                "apiVersion": api_version,
                "kind": list_kind,
                "metadata": {"resourceVersion": str(self._version)},
                "items": items,
            }

    def _next_events(
        self,
        resource: str,
        namespace: str,
        selector: str,
        after: int,
        *,
        deadline: float,
        generation: int,
        peer: socket.socket,
    ) -> list[tuple[str, Event]] | None:
        """Events after ``after``; waits for some. None when the stream should end (410 is raised)."""
        with self._lock:
            while True:
                if after <= self._compacted_through:
                    raise _GoneError
                if self._drop_generation != generation or _hung_up(peer):
                    raise ConnectionAbortedError
                found = [
                    (kind, e)
                    for e in self._events
                    if e.version > after
                    and (e.resource, e.namespace) == (resource, namespace)
                    and (kind := _seen_as(e, selector))
                ]
                if found:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._lock.wait(min(remaining, 0.5))


class _GoneError(Exception):
    pass


def _hung_up(peer: socket.socket) -> bool:
    """Did the client close its end (readable, and nothing to read)?"""
    readable, _, _ = select.select([peer], [], [], 0)
    try:
        return bool(readable) and peer.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _selected(obj: dict[str, Any] | None, selector: str) -> bool:
    if obj is None:
        return False
    labels = obj["metadata"].get("labels") or {}
    terms = [term.partition("=") for term in selector.split(",") if term]
    return all(labels.get(key) == value for key, _, value in terms)


def _seen_as(event: Event, selector: str) -> str:
    """The event type a watch with ``selector`` sees ("" for none): leaving the selection is DELETED,
    entering it is ADDED."""
    now = event.kind != "DELETED" and _selected(event.obj, selector)
    was = event.kind != "ADDED" and _selected(event.before, selector)
    if now:
        return "MODIFIED" if was else "ADDED"
    return "DELETED" if was else ""


def _handler_for(api: FakeKubeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
            api.requests.append((parts.path, query))
            resource, match = next(
                ((name, found) for name, path in _PATHS.items() if (found := path.match(parts.path))),
                ("", None),
            )
            failure = api._take_failure()
            if match is None or failure is not None:
                self._send_json(failure or 404, _status(failure or 404, "injected failure or unknown path"))
                return
            namespace, selector = match.group(1), query.get("labelSelector", "")
            if query.get("watch") == "true":
                self._watch(resource, namespace, selector, query)
            else:
                self._send_json(200, api._list_body(resource, namespace, selector))

        def _send_json(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _watch(self, resource: str, namespace: str, selector: str, query: dict[str, str]) -> None:
            after = int(query.get("resourceVersion") or 0)
            deadline = time.monotonic() + float(query.get("timeoutSeconds") or 1800)
            with api._lock:
                generation = api._drop_generation
                api.open_watches += 1
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                self._stream(resource, namespace, selector, after, deadline=deadline, generation=generation)
            except ConnectionAbortedError:
                self.close_connection = True
                return  # cut off: no final chunk
            except _GoneError:
                event = {"type": "ERROR", "object": _status(410, "too old resource version")}
                self._chunk(json.dumps(event).encode() + b"\n")
            except (BrokenPipeError, ConnectionResetError):
                return
            finally:
                with api._lock:
                    api.open_watches -= 1
            self._chunk(b"")

        def _stream(
            self,
            resource: str,
            namespace: str,
            selector: str,
            after: int,
            *,
            deadline: float,
            generation: int,
        ) -> None:
            while True:
                events = api._next_events(
                    resource,
                    namespace,
                    selector,
                    after,
                    deadline=deadline,
                    generation=generation,
                    peer=self.connection,
                )
                if events is None:
                    return
                for kind, event in events:
                    line = json.dumps({"type": kind, "object": event.obj}).encode() + b"\n"
                    self._chunk(line)
                    api.sent_at.setdefault(event.version, time.monotonic())
                    after = event.version

    return Handler


def _status(code: int, message: str) -> dict[str, Any]:
    reason = {410: "Expired", 404: "NotFound"}.get(code, "InternalError")
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
