"""A cleartext HTTP/2 upstream (prior knowledge, as Envoy speaks to ``protocol: HTTP2`` backends).

``H2UpstreamServer(name)`` has the observation and behaviour API of ``UpstreamServer`` (``.port``,
``.requests``, ``.hits``, ``.health_checks``, ``.configure(fail_status=..., fail_mode=...,
healthy=...)``) and answers the same JSON body plus ``"protocol": "HTTP/2"``. Per request:
``?status=503``. Delays, holds and streaming are HTTP/1.1-only features of ``UpstreamServer``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

import h2.config
import h2.connection
import h2.events

from harness.ports import LOOPBACK
from harness.upstream import RecordedRequest, UpstreamServer


class H2UpstreamServer(UpstreamServer):
    def _open(self, port: int) -> int:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((LOOPBACK, port))
        self._listener.listen(64)
        self._listener.settimeout(0.05)
        self._connections: list[socket.socket] = []
        return int(self._listener.getsockname()[1])

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.settimeout(None)
            self._connections.append(connection)
            threading.Thread(target=self._serve_connection, args=(connection,), daemon=True).start()

    def _close(self) -> None:
        self._listener.close()
        for connection in self._connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def _serve_connection(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        conn.initiate_connection()
        streams: dict[int, tuple[dict[str, str], bytearray]] = {}
        try:
            sock.sendall(conn.data_to_send())
            while not self._stopping.is_set():
                data = sock.recv(65536)
                if not data:
                    return
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        streams[event.stream_id] = (_header_dict(event.headers), bytearray())
                    elif isinstance(event, h2.events.DataReceived):
                        streams[event.stream_id][1].extend(event.data)
                        conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    elif isinstance(event, h2.events.StreamEnded):
                        headers, body = streams.pop(event.stream_id)
                        self._respond(conn, event.stream_id, headers, bytes(body))
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        return
                sock.sendall(conn.data_to_send())
        except OSError:
            return
        finally:
            sock.close()

    def _respond(self, conn: Any, stream_id: int, headers: dict[str, str], body: bytes) -> None:
        path = headers.get(":path", "/")
        url = urlsplit(path)
        if url.path == self.behaviour.health_path:
            self._record_health_check()
            status = 200 if self.behaviour.healthy else 503
            self._send(conn, stream_id, status, {"healthy": self.behaviour.healthy})
            return
        method = headers.get(":method", "GET")
        regular = {k: v for k, v in headers.items() if not k.startswith(":")}
        status, _ = self._record(RecordedRequest(method, path, regular, body))
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if "status" in query:
            status = int(query["status"])
        payload = {
            "backend": self.name,
            "path": path,
            "method": method,
            "headers": regular,
            "protocol": "HTTP/2",
            "authority": headers.get(":authority", ""),
        }
        self._send(conn, stream_id, status, payload)

    def _send(self, conn: Any, stream_id: int, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        conn.send_headers(
            stream_id,
            [
                (":status", str(status)),
                ("content-type", "application/json"),
                ("content-length", str(len(data))),
                ("x-upstream", self.name),
            ],
        )
        conn.send_data(stream_id, data, end_stream=True)


def _header_dict(headers: Any) -> dict[str, str]:
    result: dict[str, str] = {}
    for name, value in headers:
        key = str(name).lower()
        result[key] = f"{result[key]}, {value}" if key in result else str(value)
    return result
