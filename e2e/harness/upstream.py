"""A real HTTP/1.1 upstream server in a background thread, whose behaviour tests change at run time.

Every response names the server: header ``x-upstream: NAME`` and a JSON body
``{"backend": NAME, "path": ..., "method": ..., "headers": {...}}``. Every request is recorded
(``requests``), health-check requests separately (``health_checks``).

Behaviour (``UpstreamServer.behaviour``, replaced atomically with ``configure(...)``):

* ``fail_status`` (``0``: hang up without answering, a reset) with ``fail_mode`` ``"always"`` /
  ``"first"`` (the first ``fail_count`` requests after ``configure``) / ``"alternate"`` (every other
  request, starting with a failure) / ``"every"`` (one request in ``fail_count``, starting with a
  failure);
* ``delay`` seconds before answering (only the first ``delay_count`` requests when that is > 0);
* ``hold``: requests block until ``release()`` (or ``stop()``): connections stay open, for circuit
  breakers;
* ``healthy``: the answer on ``health_path`` (200 or 503);
* ``close_connection``: answer then close (no keep-alive).

A request may also ask for itself (query parameters, so tests sharing a server do not interfere):
``?status=503``, ``?delay=0.5``, ``?header=name:value`` (added to the response; repeatable).
Server-sent events (any path prefix may come first, so routes can tell streams apart):
``GET /sse?interval=0.5&duration=10`` streams
``text/event-stream`` events every ``interval`` seconds for ``duration`` seconds (``silent_after=N``
sends N events then goes quiet, keeping the connection open until ``duration`` passes);
``POST /v1/chat/completions`` with ``{"stream": true}`` streams OpenAI-style ``chat.completion.chunk``
events the same way (``interval``/``duration`` from the query or the server's ``sse_interval`` /
``sse_duration``) and ends with ``data: [DONE]``.
OpenAI usage: ``?usage=IN,OUT`` adds ``usage`` (prompt, completion and total tokens) to a JSON answer,
or a final usage event (``choices: []``) before ``[DONE]`` of a stream; ``?first_event_delay=S`` sends a
stream's headers at once but its first event only after S seconds (time to first token).
"""

from __future__ import annotations

import dataclasses
import json
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from harness.ports import LOOPBACK

DROP = 0  # a fail_status (or ?status=) that closes the connection without answering


@dataclass(frozen=True)
class Behaviour:
    fail_status: int | None = None
    fail_mode: str = "always"  # always | first | alternate | every (one request in fail_count)
    fail_count: int = 1
    delay: float = 0.0
    delay_count: int = 0  # when > 0, only the first delay_count requests after configure() are delayed
    hold: bool = False
    healthy: bool = True
    health_path: str = "/healthz"
    close_connection: bool = False
    sse_interval: float = 0.5
    sse_duration: float = 2.0
    sse_first_delay: float = 0.0  # default of ?first_event_delay= for every stream this server answers


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes
    received_at: float = field(default_factory=time.monotonic)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm and the
        # peer's delayed ACK would add ~40 ms to every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        owner = self.server.owner
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        behaviour = owner.behaviour
        if url.path == behaviour.health_path:
            owner._record_health_check()
            self._send_json(200 if behaviour.healthy else 503, {"healthy": behaviour.healthy})
            return
        status, delayed = owner._record(RecordedRequest(self.command, self.path, headers, body))
        if behaviour.hold:
            owner._released.wait(timeout=30)
        delay = float(query.get("delay", behaviour.delay if delayed else 0.0))
        if delay:
            time.sleep(delay)
        if "status" in query:
            status = int(query["status"])
        if status == DROP:
            self.close_connection = True  # hang up without a response: a reset to the proxy
            return
        if url.path.endswith("/sse") and status == 200:
            self._stream_sse(query, behaviour, openai=False)
            return
        if url.path.endswith("/v1/chat/completions") and status == 200 and _wants_stream(body):
            self._stream_sse(query, behaviour, openai=True)
            return
        payload = {"backend": owner.name, "path": self.path, "method": self.command, "headers": headers}
        if "usage" in query:
            payload["usage"] = _usage(query["usage"])
        extra = [h.split(":", 1) for h in parse_qs(url.query).get("header", []) if ":" in h]
        self._send_json(status, payload, close=behaviour.close_connection, extra_headers=extra)

    def _send_json(
        self,
        status: int,
        payload: dict[str, Any],
        close: bool = False,
        extra_headers: list[list[str]] | None = None,
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in extra_headers or []:
            self.send_header(name.strip(), value.strip())
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-upstream", self.server.owner.name)
        if close:
            self.send_header("connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _stream_sse(self, query: dict[str, str], behaviour: Behaviour, openai: bool) -> None:
        interval = float(query.get("interval", behaviour.sse_interval))
        duration = float(query.get("duration", behaviour.sse_duration))
        silent_after = int(query["silent_after"]) if "silent_after" in query else None
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("x-upstream", self.server.owner.name)
        self.end_headers()
        started = time.monotonic()
        sent = 0
        try:
            self.wfile.flush()
            time.sleep(float(query.get("first_event_delay", behaviour.sse_first_delay)))
            while time.monotonic() - started < duration and not self.server.owner._stopping.is_set():
                if silent_after is None or sent < silent_after:
                    self._write_chunk(_sse_event(self.server.owner.name, sent, openai))
                    sent += 1
                time.sleep(interval)
            if openai and "usage" in query:
                final = {"object": "chat.completion.chunk", "choices": [], "usage": _usage(query["usage"])}
                self._write_chunk(f"data: {json.dumps(final)}\n\n".encode())
            if openai:
                self._write_chunk(b"data: [DONE]\n\n")
            self._write_chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _usage(spec: str) -> dict[str, int]:
    prompt, completion = (int(part) for part in spec.split(","))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _wants_stream(body: bytes) -> bool:
    try:
        return bool(json.loads(body or b"{}").get("stream"))
    except (ValueError, AttributeError):
        return False


def _sse_event(name: str, index: int, openai: bool) -> bytes:
    if openai:
        chunk = {
            "id": f"chatcmpl-{name}",
            "object": "chat.completion.chunk",
            "model": name,
            "choices": [{"index": 0, "delta": {"content": f"token{index} "}, "finish_reason": None}],
        }
        return f"data: {json.dumps(chunk)}\n\n".encode()
    return f"id: {index}\nevent: tick\ndata: {json.dumps({'backend': name, 'n': index})}\n\n".encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, owner: UpstreamServer, port: int, address: str = LOOPBACK) -> None:
        self.owner = owner
        super().__init__((address, port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Peers hanging up (timeouts, resets, Envoy stopping) are expected here; stay quiet."""
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class UpstreamServer:
    """``UpstreamServer("chat-v1").start()``; ``.port``; ``.requests``; ``.configure(...)``; ``.stop()``."""

    def __init__(self, name: str, port: int = 0, *, address: str = LOOPBACK, **behaviour: Any) -> None:
        self.name = name
        self.address = address  # another 127.0.0.0/8 address lets "pods" share one port, as pods do
        self.behaviour = Behaviour(**behaviour)
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._health_checks = 0
        self._since_configure = 0
        self._released = threading.Event()
        self._stopping = threading.Event()
        self.port = self._open(port)
        self._thread = threading.Thread(target=self._serve, name=f"upstream-{name}", daemon=True)

    # -- transport (HTTP/1.1 here; harness.upstream_h2 overrides these three) --------------------------

    def _open(self, port: int) -> int:
        self._server = _Server(self, port, self.address)
        return int(self._server.server_address[1])

    def _serve(self) -> None:
        self._server.serve_forever(poll_interval=0.05)

    def _close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def start(self) -> UpstreamServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._released.set()
        self._close()
        self._thread.join(timeout=5)

    def __enter__(self) -> UpstreamServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- behaviour ---------------------------------------------------------------------------------

    def configure(self, **changes: Any) -> None:
        """Change behaviour (fields of ``Behaviour``); restarts the ``first N`` / ``alternate`` count."""
        with self._lock:
            self.behaviour = dataclasses.replace(self.behaviour, **changes)
            self._since_configure = 0
            if self.behaviour.hold:
                self._released.clear()
            else:
                self._released.set()

    def release(self) -> None:
        """Let held requests answer (and stop holding new ones)."""
        self.configure(hold=False)

    def reset(self) -> None:
        """Forget recorded requests and restore the default behaviour."""
        with self._lock:
            self._requests.clear()
            self._health_checks = 0
        self.configure(**dataclasses.asdict(Behaviour()))

    # -- observations ------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def hits(self) -> int:
        with self._lock:
            return len(self._requests)

    @property
    def health_checks(self) -> int:
        with self._lock:
            return self._health_checks

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self._health_checks = 0

    def _record(self, request: RecordedRequest) -> tuple[int, bool]:
        """Record a request; decide its status and whether it is delayed from the behaviour."""
        with self._lock:
            self._requests.append(request)
            index = self._since_configure
            self._since_configure += 1
            behaviour = self.behaviour
        delayed = behaviour.delay_count <= 0 or index < behaviour.delay_count
        if behaviour.fail_status is None:
            return 200, delayed
        if behaviour.fail_mode == "first":
            return (behaviour.fail_status if index < behaviour.fail_count else 200), delayed
        if behaviour.fail_mode == "alternate":
            return (behaviour.fail_status if index % 2 == 0 else 200), delayed
        if behaviour.fail_mode == "every":
            return (behaviour.fail_status if index % behaviour.fail_count == 0 else 200), delayed
        return behaviour.fail_status, delayed

    def _record_health_check(self) -> None:
        with self._lock:
            self._health_checks += 1
