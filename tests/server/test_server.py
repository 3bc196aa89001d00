"""Server operations: per-type services, limits, health, shutdown, status, events and metrics."""

from __future__ import annotations

import asyncio

import grpc
from envoy.extensions.transport_sockets.tls.v3.secret_pb2 import Secret
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gitxds import typeurls
from gitxds.xds.cache import Snapshot

from .fake_envoy import names_in
from .harness import Env, run_xds, start_env, stop_env
from .resources import cluster, gateway, snapshot

CDS, EDS, LDS, RDS = typeurls.CLUSTER, typeurls.ENDPOINT, typeurls.LISTENER, typeurls.ROUTE


def test_per_type_services_serve_sotw_and_delta() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["a", "b"]))
        cds = await env.connect(service="cds")
        await cds.request(CDS)
        assert names_in(await cds.recv(CDS)) == ["a", "b"]
        eds = await env.connect(service="eds", delta=True)
        await eds.subscribe(EDS, ["b"])
        assert names_in(await eds.recv(EDS)) == ["b"]
        assert {s.aggregated for s in env.server.proxies()} == {False}

    run_xds(scenario)


def test_secrets_are_served_by_name_over_sds() -> None:
    async def scenario(env: Env) -> None:
        resources = gateway(["a"])
        resources[typeurls.SECRET] = [Secret(name="api-key"), Secret(name="other")]
        env.cache.set_snapshot("gw", Snapshot.build(resources))
        sds = await env.connect(service="sds")
        await sds.request(typeurls.SECRET, ["api-key"])
        response = await sds.recv(typeurls.SECRET)
        secret = Secret()
        [resource] = response.resources
        assert resource.Unpack(secret) and secret.name == "api-key"

    run_xds(scenario)


def test_a_per_type_service_rejects_other_types() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["a"]))
        cds = await env.connect(service="cds")
        await cds.request(LDS)
        await asyncio.wait_for(cds.closed.wait(), 5)
        assert cds.error is not None and cds.error.code() == grpc.StatusCode.INVALID_ARGUMENT

    run_xds(scenario)


def test_responses_larger_than_4_mib_are_delivered() -> None:
    async def scenario(env: Env) -> None:
        resources = gateway(["a"])
        big = cluster("a")
        big.metadata.filter_metadata["pad"].update({"blob": "x" * (5 * 1024 * 1024)})
        resources[CDS] = [big]
        env.cache.set_snapshot("gw", Snapshot.build(resources))
        envoy = await env.connect()
        await envoy.request(CDS)
        response = await envoy.recv(CDS)
        assert response.ByteSize() > 5 * 1024 * 1024

    run_xds(scenario)


def test_health_service_reports_serving() -> None:
    async def scenario(env: Env) -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{env.port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING

    run_xds(scenario)


def test_stop_closes_open_streams_and_frees_the_port() -> None:
    async def scenario() -> None:
        env = await start_env()
        env.cache.set_snapshot("gw", snapshot(["a"]))
        envoy = await env.connect()
        await envoy.request(CDS)
        await envoy.recv(CDS)
        await env.server.stop(0.1)
        await asyncio.wait_for(envoy.closed.wait(), 5)
        assert env.server.proxies() == []
        assert env.metric("gitxds_xds_connected_proxies") == 0
        await stop_env(env)

    asyncio.run(scenario())


def test_status_reports_drift_until_the_proxy_acks_the_current_snapshot() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["a"], label="commit-1"))
        envoy = await env.connect("edge-7", "gw")
        await envoy.request(CDS)
        first = await envoy.recv(CDS)
        [status] = env.server.proxies()
        assert (status.node_id, status.node_cluster, status.variant.value) == ("edge-7", "gw", "sotw")
        assert not status.types[CDS].in_sync  # sent, not yet acknowledged
        await envoy.ack(first)
        await env.expect_silence(envoy)
        [status] = env.server.proxies()
        assert status.types[CDS].in_sync and status.types[CDS].acked_config_version == "commit-1"
        env.cache.set_snapshot("gw", snapshot(["a", "b"], label="commit-2"))
        await envoy.recv(CDS)
        [status] = env.server.proxies()
        assert not status.in_sync and status.types[CDS].acked_version == first.version_info

    run_xds(scenario)


def test_ack_events_carry_the_config_version_for_convergence() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["a"], label="commit-1"))
        envoy = await env.connect(delta=True)
        await envoy.subscribe(CDS)
        await envoy.delta_ack(await envoy.recv(CDS))
        await env.expect_silence(envoy)
        [event] = env.events
        assert (event.node_id, event.type_url, event.config_version, event.accepted) == (
            "envoy-1",
            CDS,
            "commit-1",
            True,
        )

    run_xds(scenario)


def test_metrics_live_on_the_injected_registry_of_each_server() -> None:
    async def scenario() -> None:
        one, two = await start_env(), await start_env()
        try:
            one.cache.set_snapshot("gw", snapshot(["a"]))
            envoy = await one.connect(delta=True)
            await envoy.subscribe(CDS)
            response = await envoy.recv(CDS)
            assert one.metric("gitxds_xds_pushes_total", type="clusters") == 1
            assert one.metric("gitxds_xds_bytes_sent_total", type="clusters") >= response.ByteSize()
            assert one.metric("gitxds_xds_streams_total", variant="delta") == 1
            assert one.metric("gitxds_xds_connected_proxies") == 1
            assert two.metric("gitxds_xds_pushes_total", type="clusters") == 0
        finally:
            await stop_env(one)
            await stop_env(two)

    asyncio.run(scenario())


def test_two_servers_from_the_same_config_send_identical_versions() -> None:
    async def scenario() -> None:
        replicas = [await start_env(), await start_env()]
        try:
            seen = []
            for env in replicas:
                env.cache.set_snapshot("gw", snapshot(["a", "b"]))
                envoy = await env.connect()
                await envoy.request(CDS)
                sotw = await envoy.recv(CDS)
                delta = await env.connect(delta=True)
                await delta.subscribe(CDS)
                per_resource = [(r.name, r.version) for r in (await delta.recv(CDS)).resources]
                seen.append((sotw.version_info, per_resource))
            assert seen[0] == seen[1]
        finally:
            for env in replicas:
                await stop_env(env)

    asyncio.run(scenario())
