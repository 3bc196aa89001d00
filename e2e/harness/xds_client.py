"""A raw xDS client for tests that play a hostile or impersonating proxy (no Envoy in between).

``XdsStream(channel, delta=False)``: one ADS stream. ``send(request)`` queues a Discovery(Delta)Request,
``recv(timeout)`` returns the next response or None once the stream ended (``.code``/``.details``
then say how), ``wait_closed(timeout)`` -> the gRPC status code that ended it, ``close()``.
``node(id, cluster)``, ``sotw(type_url, names, node=None, ...)`` build requests.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import grpc
from envoy.config.core.v3.base_pb2 import Node
from envoy.service.discovery.v3 import ads_pb2_grpc
from envoy.service.discovery.v3.discovery_pb2 import DeltaDiscoveryRequest, DiscoveryRequest

_END = object()


def node(node_id: str, cluster: str) -> Node:
    return Node(id=node_id, cluster=cluster)


def sotw(
    type_url: str, names: Sequence[str] = (), node: Node | None = None, **fields: Any
) -> DiscoveryRequest:
    request = DiscoveryRequest(type_url=type_url, resource_names=list(names), **fields)
    if node is not None:
        request.node.CopyFrom(node)
    return request


class XdsStream:
    def __init__(self, channel: grpc.Channel, *, delta: bool = False) -> None:
        self._requests: queue.Queue[object] = queue.Queue()
        self._responses: queue.Queue[object] = queue.Queue()
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
        method = stub.DeltaAggregatedResources if delta else stub.StreamAggregatedResources
        self._call = method(self._outgoing())
        self.code: grpc.StatusCode | None = None
        self.details = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _outgoing(self) -> Iterator[Any]:
        while True:
            item = self._requests.get()
            if item is _END:
                return
            yield item

    def _read(self) -> None:
        try:
            for response in self._call:
                self._responses.put(response)
            self.code = grpc.StatusCode.OK
        except grpc.RpcError as error:
            self.code, self.details = error.code(), error.details() or ""
        self._responses.put(_END)

    def send(self, request: DiscoveryRequest | DeltaDiscoveryRequest) -> None:
        self._requests.put(request)

    def recv(self, timeout: float = 10.0) -> Any:
        """The next response; None when the stream has ended. Raises queue.Empty on timeout."""
        item = self._responses.get(timeout=timeout)
        if item is _END:
            self._responses.put(_END)
            return None
        return item

    def wait_closed(self, timeout: float = 10.0) -> grpc.StatusCode | None:
        """Read until the server ends the stream; the responses read are dropped."""
        while self.recv(timeout) is not None:
            pass
        return self.code

    def close(self) -> None:
        self._requests.put(_END)
        self._call.cancel()
        self._reader.join(timeout=5)
