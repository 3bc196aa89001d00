"""A fake Envoy xDS client on real gRPC, for protocol tests against the real server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

import grpc
from envoy.config.core.v3.base_pb2 import Node
from envoy.service.cluster.v3 import cds_pb2_grpc
from envoy.service.discovery.v3 import ads_pb2_grpc
from envoy.service.discovery.v3.discovery_pb2 import (
    DeltaDiscoveryRequest,
    DeltaDiscoveryResponse,
    DiscoveryRequest,
    DiscoveryResponse,
)
from envoy.service.endpoint.v3 import eds_pb2_grpc
from envoy.service.secret.v3 import sds_pb2_grpc
from google.rpc.status_pb2 import Status

from gitxds.xds.server import MAX_MESSAGE_BYTES

RESPONSE_TIMEOUT = 5.0

# Each fake proxy gets its own connection, as real Envoys do (the server limits streams per connection).
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.use_local_subchannel_pool", 1),
]


class FakeEnvoy:
    """One xDS stream. Sends ``node`` only on its first request, like Envoy."""

    def __init__(
        self, channel: grpc.aio.Channel, node_id: str, cluster: str, *, delta: bool, call: Any
    ) -> None:
        self.channel = channel
        self.node = Node(id=node_id, cluster=cluster)
        self.delta = delta
        self.call = call
        self.node_sent = False
        self.sent = 0  # requests written
        self.received = 0  # responses read
        self.responses: asyncio.Queue[Any] = asyncio.Queue()
        self.closed = asyncio.Event()
        self.error: grpc.aio.AioRpcError | None = None
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(
        cls,
        port: int,
        node_id: str = "envoy-1",
        cluster: str = "gw",
        *,
        delta: bool = False,
        service: str = "ads",
    ) -> FakeEnvoy:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=CHANNEL_OPTIONS)
        return cls(channel, node_id, cluster, delta=delta, call=_open(channel, service, delta))

    async def _read(self) -> None:
        try:
            while True:
                response = await self.call.read()
                if response is grpc.aio.EOF:
                    break
                self.received += 1
                await self.responses.put(response)
        except grpc.aio.AioRpcError as error:
            self.error = error
        except asyncio.CancelledError:
            pass
        finally:
            self.closed.set()

    async def _send(self, request: Any) -> None:
        if not self.node_sent:
            request.node.CopyFrom(self.node)
            self.node_sent = True
        await self.call.write(request)
        self.sent += 1

    async def request(
        self,
        type_url: str,
        names: Iterable[str] = (),
        *,
        nonce: str = "",
        version: str = "",
        error: str | None = None,
    ) -> None:
        request = DiscoveryRequest(
            type_url=type_url, resource_names=list(names), response_nonce=nonce, version_info=version
        )
        if error is not None:
            request.error_detail.CopyFrom(Status(code=3, message=error))
        await self._send(request)

    async def ack(self, response: DiscoveryResponse, names: Iterable[str] = ()) -> None:
        await self.request(response.type_url, names, nonce=response.nonce, version=response.version_info)

    async def nack(
        self, response: Any, message: str, names: Iterable[str] = (), *, last_version: str = ""
    ) -> None:
        if self.delta:
            await self.subscribe(response.type_url, nonce=response.nonce, error=message)
        else:
            await self.request(
                response.type_url, names, nonce=response.nonce, version=last_version, error=message
            )

    async def subscribe(
        self,
        type_url: str,
        subscribe: Iterable[str] = (),
        unsubscribe: Iterable[str] = (),
        *,
        nonce: str = "",
        initial: Mapping[str, str] | None = None,
        error: str | None = None,
    ) -> None:
        request = DeltaDiscoveryRequest(
            type_url=type_url,
            resource_names_subscribe=list(subscribe),
            resource_names_unsubscribe=list(unsubscribe),
            response_nonce=nonce,
            initial_resource_versions=dict(initial or {}),
        )
        if error is not None:
            request.error_detail.CopyFrom(Status(code=3, message=error))
        await self._send(request)

    async def delta_ack(self, response: DeltaDiscoveryResponse) -> None:
        await self.subscribe(response.type_url, nonce=response.nonce)

    async def recv(self, type_url: str | None = None, timeout: float = RESPONSE_TIMEOUT) -> Any:
        response = await asyncio.wait_for(self.responses.get(), timeout)
        if type_url is not None:
            assert response.type_url == type_url, f"expected {type_url}, got {response.type_url}"
        return response

    async def close(self) -> None:
        self.call.cancel()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        await self.channel.close()


def _open(channel: grpc.aio.Channel, service: str, delta: bool) -> Any:
    if service == "ads":
        ads = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
        return ads.DeltaAggregatedResources() if delta else ads.StreamAggregatedResources()
    if service == "cds":
        cds = cds_pb2_grpc.ClusterDiscoveryServiceStub(channel)
        return cds.DeltaClusters() if delta else cds.StreamClusters()
    if service == "sds":
        sds = sds_pb2_grpc.SecretDiscoveryServiceStub(channel)
        return sds.DeltaSecrets() if delta else sds.StreamSecrets()
    if service == "eds":
        eds = eds_pb2_grpc.EndpointDiscoveryServiceStub(channel)
        return eds.DeltaEndpoints() if delta else eds.StreamEndpoints()
    raise ValueError(service)


def names_in(response: Any) -> list[str]:
    """Resource names in a SotW or delta response, in order."""
    if isinstance(response, DeltaDiscoveryResponse):
        return [resource.name for resource in response.resources]
    return [_name_of(resource) for resource in response.resources]


def _name_of(resource: Any) -> str:
    from envoy.config.cluster.v3.cluster_pb2 import Cluster
    from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment
    from envoy.config.listener.v3.listener_pb2 import Listener
    from envoy.config.route.v3.route_pb2 import RouteConfiguration

    for message_class in (Cluster, ClusterLoadAssignment, Listener, RouteConfiguration):
        message = message_class()
        if resource.Unpack(message):
            return str(getattr(message, "cluster_name", "") or message.name)
    raise AssertionError(f"unexpected resource type {resource.type_url}")
