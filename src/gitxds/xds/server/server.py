"""The gRPC xDS server: ADS and per-type services, SotW and delta, with health and status."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any

import grpc
from envoy.service.discovery.v3.discovery_pb2 import DeltaDiscoveryRequest, DiscoveryRequest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from gitxds import typeurls
from gitxds.metrics import Metrics
from gitxds.xds.cache import SnapshotSource
from gitxds.xds.server.context import ServerContext
from gitxds.xds.server.identity import IdentityPolicy, Refusal, RefusalLog, peer_identities
from gitxds.xds.server.limits import XdsLimits
from gitxds.xds.server.planner import in_sync
from gitxds.xds.server.status import ProxyStatus, TypeStatus, Variant, XdsEvent
from gitxds.xds.server.streams import StreamRunner
from gitxds.xds.server.trim import map_large_blocks

MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # the largest response (a gateway's whole config)

GRPC_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 5_000),
    ("grpc.http2.max_ping_strikes", 0),
    # gRPC sizes each connection's next read after its largest recent ones and keeps that buffer
    # while the connection idles: one 140 KB EDS subscription left ~3 x 64 KB per idle proxy. Capped,
    # an idle connection holds one 8 KB slice and large requests take more reads (bench.fanout:
    # 73 -> 51 KB per added stream).
    ("grpc.experimental.tcp_max_read_buffer_size", 8 * 1024),
)

# (gRPC service, SotW method, delta method, type URL or None for aggregated)
SERVICES: tuple[tuple[str, str, str, str | None], ...] = (
    ("envoy.service.discovery.v3.AggregatedDiscoveryService", "StreamAggregatedResources",
     "DeltaAggregatedResources", None),
    ("envoy.service.listener.v3.ListenerDiscoveryService", "StreamListeners", "DeltaListeners",
     typeurls.LISTENER),
    ("envoy.service.route.v3.RouteDiscoveryService", "StreamRoutes", "DeltaRoutes", typeurls.ROUTE),
    ("envoy.service.cluster.v3.ClusterDiscoveryService", "StreamClusters", "DeltaClusters", typeurls.CLUSTER),
    ("envoy.service.endpoint.v3.EndpointDiscoveryService", "StreamEndpoints", "DeltaEndpoints",
     typeurls.ENDPOINT),
    ("envoy.service.secret.v3.SecretDiscoveryService", "StreamSecrets", "DeltaSecrets", typeurls.SECRET),
)  # fmt: skip

EventCallback = Callable[[XdsEvent], None]


class XdsServer:
    """Serves snapshots from ``cache`` to Envoy over gRPC. Use from one asyncio event loop.

    With ``identity_policy`` (set it when client certificates are required), a stream receives a
    gateway only when its certificate carries one of the identities the policy gives for it.
    """

    def __init__(
        self,
        cache: SnapshotSource,
        *,
        metrics: Metrics,
        logger: logging.Logger | None = None,
        limits: XdsLimits | None = None,
        identity_policy: IdentityPolicy | None = None,
    ) -> None:
        self._cache = cache
        self._metrics = metrics
        self._logger = logger or logging.getLogger("gitxds.xds.server")
        self._callbacks: list[EventCallback] = []
        self._context = ServerContext(
            metrics=metrics,
            emit=self._emit,
            limits=limits or XdsLimits(),
            identity_policy=identity_policy,
            refusals=RefusalLog(self._logger),
        )
        self._streams: set[StreamRunner] = set()
        self._streams_by_peer: dict[str, int] = {}
        self._server: grpc.aio.Server | None = None
        self._health = health.aio.HealthServicer()
        self._extra_services: list[Callable[[grpc.aio.Server], None]] = []
        # Registered before any stream, so memos are cleared before streams react to a change.
        cache.watch(self._forget_derived)

    def _forget_derived(self, group: str) -> None:
        self._context.memo.clear()
        snapshot = self._cache.get(group)
        kept = {snapshot.resources(t) for t in typeurls.PUSH_ORDER} if snapshot is not None else set()
        self._context.name_sets.clear_views(keep=kept)

    @property
    def context(self) -> ServerContext:
        """Shared per-server state (memo, subscription sets); exposed for tests and benchmarks."""
        return self._context

    def on_event(self, callback: EventCallback) -> None:
        """Call ``callback`` for every ACK and NACK from any proxy."""
        self._callbacks.append(callback)

    def add_servicer(self, register: Callable[[grpc.aio.Server], None]) -> None:
        """Serve another gRPC service on the xDS port (e.g. the access-log receiver); before ``start``."""
        self._extra_services.append(register)

    async def start(
        self, address: str = "127.0.0.1:0", credentials: grpc.ServerCredentials | None = None
    ) -> int:
        """Listen on ``address``; with ``credentials`` (TLS, possibly mutual) instead of plaintext."""
        map_large_blocks()
        limits = self._context.limits
        server = grpc.aio.server(
            options=(*GRPC_OPTIONS, ("grpc.max_receive_message_length", limits.max_request_bytes))
        )
        server.add_generic_rpc_handlers(tuple(self._service_handlers()))
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        for register in self._extra_services:
            register(server)
        port: int = (
            server.add_secure_port(address, credentials)
            if credentials is not None
            else server.add_insecure_port(address)
        )
        if port == 0:
            raise OSError(f"cannot bind xDS server to {address}")
        await server.start()
        await self._health.set("", health_pb2.HealthCheckResponse.SERVING)
        self._server = server
        self._logger.info("xDS server listening on port %d", port)
        return port

    async def stop(self, grace: float = 1.0) -> None:
        """Stop accepting streams, give open ones ``grace`` seconds, then close them."""
        if self._server is None:
            return
        await self._health.enter_graceful_shutdown()
        await self._server.stop(grace)
        self._server = None

    def refusals(self) -> list[Refusal]:
        """Streams refused because their certificate may not receive the gateway claimed, latest first."""
        return self._context.refusals.recent()

    def stream_totals(self) -> tuple[int, int] | None:
        """(requests applied, responses written) summed over the open streams, or None while any
        stream has work queued or under way. Equal totals on the clients' side mean nothing more is
        on its way: tests and benchmarks wait for that instead of sleeping."""
        if not all(runner.idle for runner in self._streams):
            return None
        return (
            sum(runner.requests_applied for runner in self._streams),
            sum(runner.responses_written for runner in self._streams),
        )

    def proxies(self) -> list[ProxyStatus]:
        return sorted(
            (self._status_of(runner) for runner in self._streams),
            key=lambda status: (status.node_id, status.connected_since),
        )

    def _status_of(self, runner: StreamRunner) -> ProxyStatus:
        stream = runner.state
        snapshot = runner.current_snapshot()
        types = {
            type_url: TypeStatus(
                type_url=type_url,
                acked_version=state.acked.version if state.acked is not None else "",
                nacked_version=state.nacked_version,
                error_message=state.nack_error,
                in_sync=in_sync(stream, snapshot, type_url, self._context.name_sets),
                acked_config_version=state.acked_config_version,
            )
            for type_url, state in stream.types.items()
            if state.subscribed
        }
        return ProxyStatus(
            node_id=self._context.shown(stream.node_id),
            node_cluster=self._context.shown(stream.node_cluster),
            group=stream.group,
            connected_since=stream.connected_since,
            variant=stream.variant,
            aggregated=stream.aggregated,
            types=types,
        )

    def _emit(self, event: XdsEvent) -> None:
        for callback in self._callbacks:
            try:
                callback(event)
            except Exception:
                self._logger.exception("xDS event callback failed")

    def _service_handlers(self) -> list[grpc.GenericRpcHandler]:
        handlers = []
        for service, sotw_method, delta_method, type_url in SERVICES:
            methods = {
                sotw_method: grpc.stream_stream_rpc_method_handler(
                    self._behaviour(Variant.SOTW, type_url), request_deserializer=DiscoveryRequest.FromString
                ),
                delta_method: grpc.stream_stream_rpc_method_handler(
                    self._behaviour(Variant.DELTA, type_url),
                    request_deserializer=DeltaDiscoveryRequest.FromString,
                ),
            }
            handlers.append(grpc.method_handlers_generic_handler(service, methods))
        return handlers

    def peer_may_act_for(self, context: grpc.aio.ServicerContext, gateway: str) -> bool:
        """Whether the peer of ``context`` may speak for ``gateway`` on another service of this server
        (the access-log stream): the same identity rule as for receiving it; always without a policy."""
        policy = self._context.identity_policy
        return policy is None or bool(peer_identities(context) & policy(gateway))

    def _stream_limit_reached(self, peer: str) -> str | None:
        limits = self._context.limits
        if len(self._streams) >= limits.max_streams:
            return f"this server has {limits.max_streams} open xDS streams, its limit"
        if self._streams_by_peer.get(peer, 0) >= limits.max_streams_per_connection:
            return f"{limits.max_streams_per_connection} xDS streams are open on this connection, its limit"
        return None

    def _release_peer(self, peer: str) -> None:
        left = self._streams_by_peer.pop(peer, 1) - 1
        if left > 0:
            self._streams_by_peer[peer] = left

    def _behaviour(
        self, variant: Variant, type_url: str | None
    ) -> Callable[[AsyncIterable[Any], grpc.aio.ServicerContext], Awaitable[None]]:
        async def serve(requests: AsyncIterable[Any], context: grpc.aio.ServicerContext) -> None:
            peer = context.peer()
            refusal = self._stream_limit_reached(peer)
            if refusal is not None:
                self._metrics.xds_refused.labels(reason="limit").inc()
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, refusal)
            runner = StreamRunner(self._cache, self._context, variant, type_url)
            self._streams.add(runner)
            self._streams_by_peer[peer] = self._streams_by_peer.get(peer, 0) + 1
            self._metrics.xds_streams.labels(variant=variant.value).inc()
            self._metrics.xds_connected_proxies.inc()
            try:
                await runner.run(requests, context)
            finally:
                self._streams.discard(runner)
                self._release_peer(peer)
                self._metrics.xds_connected_proxies.dec()

        return serve
