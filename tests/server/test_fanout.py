"""A change is serialized once and its responses built once, however many proxies receive it."""

from __future__ import annotations

import asyncio

from gitxds import typeurls
from gitxds.xds.cache import ResourceEncoder, Snapshot

from .fake_envoy import FakeEnvoy
from .harness import Env, run_xds
from .resources import gateway, route_config

CDS, EDS, LDS, RDS = typeurls.CLUSTER, typeurls.ENDPOINT, typeurls.LISTENER, typeurls.ROUTE
STREAMS = 100
CLUSTERS = [f"c{i}" for i in range(20)]


async def _subscribe(envoy: FakeEnvoy) -> None:
    if envoy.delta:
        await envoy.subscribe(CDS)
        await envoy.subscribe(RDS, ["routes"])
        for _ in range(2):
            await envoy.delta_ack(await envoy.recv())
    else:
        await envoy.request(CDS)
        await envoy.request(RDS, ["routes"])
        for _ in range(2):
            response = await envoy.recv()
            await envoy.ack(response, [] if response.type_url == CDS else ["routes"])


def test_one_change_to_100_streams_serializes_each_changed_resource_once() -> None:
    async def scenario(env: Env) -> None:
        encoder = ResourceEncoder()
        first = Snapshot.build(gateway(CLUSTERS), encoder=encoder)
        env.cache.set_snapshot("gw", first)
        envoys = [await env.connect(f"envoy-{i}", delta=i % 2 == 0) for i in range(STREAMS)]
        await asyncio.gather(*(_subscribe(envoy) for envoy in envoys))
        encoded_before, built_before = encoder.encoded_count, env.server.context.memo.misses

        resources = {type_url: list(first.resources(type_url)) for type_url in (CDS, EDS, LDS)}
        resources[RDS] = [route_config("routes", {"/": "c1"})]
        env.cache.set_snapshot("gw", Snapshot.build(resources, encoder=encoder, previous=first))
        responses = await asyncio.gather(*(envoy.recv(RDS) for envoy in envoys))

        assert all(len(response.resources) == 1 for response in responses)
        assert encoder.encoded_count - encoded_before == 1
        # Delta bodies are computed once per (old set, new set), not once per stream.
        assert env.server.context.memo.misses - built_before < 10  # 50 delta streams: 50+ if per stream
        assert len({r.nonce for r in responses}) >= 1 and all(r.nonce for r in responses)

    run_xds(scenario)


def test_shared_work_is_forgotten_when_the_snapshot_changes() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", Snapshot.build(gateway(CLUSTERS)))
        envoy = await env.connect(delta=True)
        await _subscribe(envoy)
        env.cache.set_snapshot("gw", Snapshot.build(gateway(CLUSTERS, {"/": "c2"})))
        await envoy.delta_ack(await envoy.recv(RDS))
        assert len(env.server.context.memo) > 0
        env.cache.set_snapshot("gw", Snapshot.build(gateway(CLUSTERS, {"/": "c3"})))
        # Nothing computed for the replaced snapshots is kept alive once the new one is out.
        assert len(env.server.context.memo) == 0

    run_xds(scenario)


def test_what_a_name_set_sees_of_a_table_the_new_snapshot_reuses_is_not_cut_again() -> None:
    async def scenario(env: Env) -> None:
        first = Snapshot.build(gateway(CLUSTERS))
        env.cache.set_snapshot("gw", first)
        name_sets = env.server.context.name_sets
        names = name_sets.acquire({"c1", "c2"})
        endpoints = first.resources(EDS)
        view = name_sets.view(endpoints, names)
        assert len(view) == 2

        resources = {type_url: list(first.resources(type_url)) for type_url in (CDS, EDS, LDS)}
        resources[RDS] = [route_config("routes", {"/": "c1"})]
        env.cache.set_snapshot("gw", Snapshot.build(resources, previous=first))
        assert name_sets.view(endpoints, names) is view  # the endpoints table is the same object

        env.cache.set_snapshot("gw", Snapshot.build(gateway(CLUSTERS[:5])))
        assert name_sets.view(endpoints, names) is not view  # a replaced table's view is dropped

    run_xds(scenario)
