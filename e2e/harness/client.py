"""A small HTTP/1.1 client for tests: real requests with timeouts, no retries, no redirects."""

from __future__ import annotations

import http.client
import json
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from harness.ports import LOOPBACK


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes
    elapsed: float

    @property
    def upstream(self) -> str | None:
        """The ``x-upstream`` header: which upstream server answered (None if Envoy answered)."""
        return self.headers.get("x-upstream")

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


def _headers_of(response: http.client.HTTPResponse) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in response.getheaders():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


def _encode(body: bytes | str | dict[str, Any] | None, headers: dict[str, str]) -> bytes | None:
    if isinstance(body, dict):
        headers.setdefault("content-type", "application/json")
        return json.dumps(body).encode()
    if isinstance(body, str):
        return body.encode()
    return body


class HttpClient:
    """One keep-alive connection to ``127.0.0.1:port`` (reopened after the server closes it)."""

    def __init__(self, port: int, host: str = LOOPBACK, timeout: float = 5.0) -> None:
        self.port = port
        self.host = host
        self.timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def request(
        self,
        path: str = "/",
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: bytes | str | dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Response:
        """Send one request and read the whole response. The ``Host`` header defaults to
        ``localhost``; pass ``headers={"host": ...}`` to pick a virtual host."""
        sent_headers = {k.lower(): v for k, v in (headers or {}).items()}
        data = _encode(body, sent_headers)
        for attempt in range(2):
            connection = self._connect(timeout)
            started = time.monotonic()
            try:
                connection.request(method, path, body=data, headers=sent_headers)
                response = connection.getresponse()
                payload = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A keep-alive connection the server had already closed: one fresh try.
                self.close()
                if attempt:
                    raise
                continue
            result = Response(response.status, _headers_of(response), payload, time.monotonic() - started)
            if response.will_close:
                self.close()
            return result
        raise AssertionError("unreachable")

    def _connect(self, timeout: float | None) -> http.client.HTTPConnection:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        if self._connection.sock is not None:
            self._connection.sock.settimeout(timeout or self.timeout)
        else:
            self._connection.timeout = timeout or self.timeout
        return self._connection


def get(port: int, path: str = "/", **kwargs: Any) -> Response:
    """One request on a fresh connection (see ``HttpClient.request`` for the arguments)."""
    with HttpClient(port) as client:
        return client.request(path, **kwargs)


def send_many(
    port: int,
    count: int,
    path: str = "/",
    *,
    headers: Mapping[str, str] | None = None,
    method: str = "GET",
    body: bytes | str | dict[str, Any] | None = None,
    time_limit: float = 30.0,
) -> list[Response]:
    """``count`` requests one after another on a keep-alive connection; stops early (and fails)
    if ``time_limit`` seconds pass."""
    deadline = time.monotonic() + time_limit
    responses = []
    with HttpClient(port) as client:
        for _ in range(count):
            assert time.monotonic() < deadline, f"sent only {len(responses)}/{count} in {time_limit}s"
            responses.append(client.request(path, method=method, headers=headers, body=body))
    return responses


def tally_upstreams(responses: list[Response]) -> Counter[str]:
    """How many responses each upstream answered (``x-upstream``); Envoy's own answers count
    under ``"status:<code>"``."""
    return Counter(r.upstream or f"status:{r.status}" for r in responses)


def tally(port: int, count: int, path: str = "/", **kwargs: Any) -> Counter[str]:
    """Send ``count`` requests (``send_many``) and tally who answered."""
    return tally_upstreams(send_many(port, count, path, **kwargs))


@dataclass(frozen=True)
class StreamEvent:
    data: str
    at: float  # seconds since the request was sent


def stream_events(
    port: int,
    path: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: bytes | str | dict[str, Any] | None = None,
    read_timeout: float = 5.0,
    time_limit: float = 30.0,
) -> tuple[Response, list[StreamEvent], str]:
    """Read a server-sent-event stream until it ends. Returns the response head (empty body), the
    ``data:`` lines with their arrival times, and how the stream ended: ``"complete"`` (clean end),
    ``"reset"`` (connection closed or response truncated) or ``"stalled"`` (nothing for
    ``read_timeout`` seconds)."""
    sent_headers = {k.lower(): v for k, v in (headers or {}).items()}
    data = _encode(body, sent_headers)
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=read_timeout)
    started = time.monotonic()
    events: list[StreamEvent] = []
    try:
        connection.request(method, path, body=data, headers=sent_headers)
        response = connection.getresponse()
        head = Response(response.status, _headers_of(response), b"", time.monotonic() - started)
        if response.status != 200:
            return Response(head.status, head.headers, response.read(), head.elapsed), events, "complete"
        ending = "complete"
        try:
            for line in _lines(response, started + time_limit):
                if line.startswith(b"data:"):
                    events.append(StreamEvent(line[5:].strip().decode(), time.monotonic() - started))
        except TimeoutError:
            ending = "stalled"
        except (http.client.IncompleteRead, ConnectionResetError, http.client.RemoteDisconnected):
            ending = "reset"
        return head, events, ending
    finally:
        connection.close()


def _lines(response: http.client.HTTPResponse, deadline: float) -> Iterator[bytes]:
    """Lines of a streamed body as they arrive. ``read1`` raises IncompleteRead when the connection
    ends without the final chunk, which is how a reset stream looks on HTTP/1.1."""
    pending = b""
    while time.monotonic() < deadline:
        data = response.read1(65536)
        if not data:
            if pending:
                yield pending
            return
        pending += data
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.rstrip(b"\r")
    raise AssertionError("stream ran past its time limit")
