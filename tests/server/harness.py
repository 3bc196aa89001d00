"""Runs an async test body against a real in-process xDS server on 127.0.0.1:0."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from gitxds.metrics import Metrics
from gitxds.xds.cache import GroupResolver, SnapshotCache, group_from_node_cluster
from gitxds.xds.server import XdsEvent, XdsLimits, XdsServer
from waiting import eventually

from .fake_envoy import FakeEnvoy

TEST_TIMEOUT = 30.0


@dataclass
class Env:
    cache: SnapshotCache
    server: XdsServer
    port: int
    registry: CollectorRegistry
    events: list[XdsEvent] = field(default_factory=list)
    clients: list[FakeEnvoy] = field(default_factory=list)

    async def connect(
        self, node_id: str = "envoy-1", cluster: str = "gw", *, delta: bool = False, service: str = "ads"
    ) -> FakeEnvoy:
        client = await FakeEnvoy.connect(self.port, node_id, cluster, delta=delta, service=service)
        self.clients.append(client)
        return client

    async def wait_in_sync(self, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until ``count`` streams have ACKed everything the current snapshots give them."""
        await eventually(lambda: self._in_sync(count), timeout, message="the streams are in sync")

    async def expect_silence(self, client: FakeEnvoy) -> None:
        """Prove the server sends ``client`` nothing more, without waiting for time to pass: once every
        open stream applied all the requests the clients sent, and the clients read every response the
        server wrote, nothing is on its way; then ``client`` must have nothing unread."""

        def settled() -> bool:
            live = [c for c in self.clients if not c.closed.is_set()]
            expected = (sum(c.sent for c in live), sum(c.received for c in live))
            return self.server.stream_totals() == expected

        await eventually(settled, message="the server and its clients settle")
        assert client.responses.empty(), f"unexpected response: {client.responses.get_nowait()}"

    def _in_sync(self, count: int) -> bool:
        statuses = self.server.proxies()
        return len(statuses) >= count and all(status.in_sync for status in statuses)

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


async def start_env(
    resolver: GroupResolver = group_from_node_cluster, limits: XdsLimits | None = None
) -> Env:
    registry = CollectorRegistry()
    cache = SnapshotCache(resolver)
    server = XdsServer(cache, metrics=Metrics(registry), limits=limits)
    port = await server.start()
    env = Env(cache=cache, server=server, port=port, registry=registry)
    server.on_event(env.events.append)
    return env


async def stop_env(env: Env) -> None:
    for client in env.clients:
        await client.close()
    await env.server.stop(0)


def run_xds(
    scenario: Callable[[Env], Awaitable[None]],
    resolver: GroupResolver = group_from_node_cluster,
    limits: XdsLimits | None = None,
) -> None:
    """Start a server, run ``scenario`` against it, and always shut everything down."""

    async def main() -> None:
        env = await start_env(resolver, limits)
        try:
            await asyncio.wait_for(scenario(env), TEST_TIMEOUT)
        finally:
            await stop_env(env)

    asyncio.run(main())
