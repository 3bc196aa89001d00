"""Client limits of the xDS server, each set low so the test takes milliseconds (defaults: XdsLimits)."""

from __future__ import annotations

import asyncio
import contextlib

import grpc

from gitxds import typeurls
from gitxds.xds.cache import Snapshot
from gitxds.xds.server import XdsLimits

from .fake_envoy import FakeEnvoy
from .harness import Env, run_xds
from .resources import gateway

CDS, EDS = typeurls.CLUSTER, typeurls.ENDPOINT


async def _ended(envoy: FakeEnvoy) -> grpc.StatusCode:
    await asyncio.wait_for(envoy.closed.wait(), 5)
    assert envoy.error is not None
    return envoy.error.code()


def test_streams_beyond_the_server_limit_are_refused_and_free_their_slot_when_closed() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", Snapshot.build(gateway(["c1"])))
        first = [await env.connect(f"envoy-{i}") for i in range(3)]
        for envoy in first:
            await envoy.request(CDS)
            await envoy.recv(CDS)
        extra = await env.connect("envoy-extra")
        with contextlib.suppress(grpc.aio.AioRpcError):  # the server may refuse before this is written
            await extra.request(CDS)
        assert await _ended(extra) == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert env.metric("gitxds_xds_refused_total", reason="limit") == 1
        await first[0].close()
        env.clients.remove(first[0])
        while len(env.server.proxies()) > 2:  # the server notices the closed stream
            await asyncio.sleep(0.01)
        later = await env.connect("envoy-later")
        await later.request(CDS)
        assert (await later.recv(CDS)).resources

    run_xds(scenario, limits=XdsLimits(max_streams=3))


def test_delta_subscriptions_are_limited_per_type_across_requests() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", Snapshot.build(gateway(["c1"])))
        envoy = await env.connect(delta=True)
        await envoy.subscribe(EDS, [f"a{i}" for i in range(8)])
        await envoy.subscribe(EDS, [f"b{i}" for i in range(8)])  # 16 in all: over the limit of 10
        assert await _ended(envoy) == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "more than 10 endpoints subscribed" in envoy.error.details()  # type: ignore[union-attr]

    run_xds(scenario, limits=XdsLimits(max_names_per_type=10, max_names_per_request=10))


def test_a_closed_stream_leaves_no_name_set_and_no_view_behind() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", Snapshot.build(gateway(["c1", "c2"])))
        envoy = await env.connect()
        await envoy.request(EDS, [f"missing-{i}" for i in range(1000)] + ["c1"])
        await envoy.recv(EDS)
        assert len(env.server.context.name_sets) == 1
        await envoy.close()
        env.clients.remove(envoy)
        while env.server.proxies():
            await asyncio.sleep(0.01)
        assert len(env.server.context.name_sets) == 0

    run_xds(scenario)
