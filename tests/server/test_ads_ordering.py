"""Make before break on ADS: push order, keeping removed clusters until routes stop naming them, warming."""

from __future__ import annotations

from typing import Any

from gitxds import typeurls
from gitxds.xds.cache import Snapshot

from .fake_envoy import FakeEnvoy, names_in
from .harness import Env, run_xds
from .resources import cluster, gateway, snapshot

CDS, EDS, LDS, RDS = typeurls.CLUSTER, typeurls.ENDPOINT, typeurls.LISTENER, typeurls.ROUTE


async def _sotw_synced(env: Env, clusters: list[str]) -> tuple[FakeEnvoy, dict[str, Any]]:
    """A SotW ADS client subscribed like Envoy (CDS, LDS wildcard; EDS, RDS by name) and fully ACKed."""
    envoy = await env.connect()
    await envoy.request(CDS)
    await envoy.request(EDS, clusters)
    await envoy.request(LDS)
    await envoy.request(RDS, ["routes"])
    latest = {}
    for _ in range(4):
        response = await envoy.recv()
        latest[response.type_url] = response
    await envoy.ack(latest[CDS])
    await envoy.ack(latest[EDS], clusters)
    await envoy.ack(latest[LDS])
    await envoy.ack(latest[RDS], ["routes"])
    await env.wait_in_sync()
    return envoy, latest


def test_make_before_break_push_order_is_cds_eds_lds_rds() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["a"]))
        envoy, _ = await _sotw_synced(env, ["a"])
        # One update touching every type: new endpoints for a, a new cluster, listener and route.
        env.cache.set_snapshot(
            "gw",
            snapshot(
                ["a", "b"], {"/": "a", "/b": "b"}, port_of={"a": 9090}, route_configs=["routes", "more"]
            ),
        )
        order = [(await envoy.recv()).type_url for _ in range(4)]
        assert order == [CDS, EDS, LDS, RDS]

    run_xds(scenario)


def test_a_change_adding_a_cluster_and_a_route_is_pushed_cds_eds_lds_rds() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["a"]))
        envoy, _ = await _sotw_synced(env, ["a"])
        # One update touching every type: new cluster b, endpoints, a second listener, a route to b.
        env.cache.set_snapshot(
            "gw", snapshot(["a", "b"], {"/": "a", "/b": "b"}, route_configs=["routes", "more"])
        )
        order = [(await envoy.recv()).type_url for _ in range(3)]
        assert order == [CDS, LDS, RDS]

    run_xds(scenario)


def test_clusters_are_removed_only_after_routes_stop_naming_them_sotw() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["old"], {"/": "old"}))
        envoy, _ = await _sotw_synced(env, ["old"])
        # Traffic moves from "old" to "new" and "old" disappears from the config in one commit.
        env.cache.set_snapshot("gw", snapshot(["new"], {"/": "new"}))
        cds = await envoy.recv(CDS)
        assert sorted(names_in(cds)) == ["new", "old"]  # "old" kept: the proxy's routes still use it
        assert len(set(names_in(cds))) == len(names_in(cds))
        await envoy.ack(cds)
        rds = await envoy.recv(RDS)
        await env.expect_silence(envoy)  # nothing removed before the routes are acknowledged
        await envoy.ack(rds, ["routes"])
        final = await envoy.recv(CDS)
        assert names_in(final) == ["new"]
        await envoy.ack(final)
        # Like Envoy, follow the cluster change by asking for the endpoints of "new" only.
        eds = await envoy.recv(EDS)
        await envoy.ack(eds, ["new"])
        eds = await envoy.recv(EDS)
        assert names_in(eds) == ["new"]
        await envoy.ack(eds, ["new"])
        await env.expect_silence(envoy)
        [status] = env.server.proxies()
        assert status.types[CDS].in_sync and status.types[RDS].in_sync

    run_xds(scenario)


def test_clusters_are_removed_only_after_routes_stop_naming_them_delta() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["old"], {"/": "old"}))
        envoy = await env.connect(delta=True)
        await envoy.subscribe(CDS)
        await envoy.subscribe(RDS, ["routes"])
        for _ in range(2):
            await envoy.delta_ack(await envoy.recv())
        env.cache.set_snapshot("gw", snapshot(["new"], {"/": "new"}))
        cds = await envoy.recv(CDS)
        assert names_in(cds) == ["new"] and list(cds.removed_resources) == []
        await envoy.delta_ack(cds)
        rds = await envoy.recv(RDS)
        await env.expect_silence(envoy)
        await envoy.delta_ack(rds)
        final = await envoy.recv(CDS)
        assert names_in(final) == [] and list(final.removed_resources) == ["old"]

    run_xds(scenario)


def test_eds_request_after_a_cds_update_is_answered_even_if_endpoints_are_unchanged() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["a"]))
        envoy, latest = await _sotw_synced(env, ["a"])
        eds = latest[EDS]
        # Only the cluster changes (its timeout); its endpoints are the same.
        resources = gateway(["a"])
        resources[CDS] = [cluster("a", timeout_ms=999)]
        env.cache.set_snapshot("gw", Snapshot.build(resources))
        cds = await envoy.recv(CDS)
        await envoy.ack(cds)
        # The warming cluster asks for its endpoints again on the same nonce and names.
        await envoy.request(EDS, ["a"], nonce=eds.nonce, version=eds.version_info)
        again = await envoy.recv(EDS)
        assert names_in(again) == ["a"] and again.version_info == eds.version_info
        assert again.nonce != eds.nonce

    run_xds(scenario)


def test_eds_request_without_a_cds_update_gets_no_answer() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["a"]))
        envoy, latest = await _sotw_synced(env, ["a"])
        eds = latest[EDS]
        await envoy.request(EDS, ["a"], nonce=eds.nonce, version=eds.version_info)
        await env.expect_silence(envoy)

    run_xds(scenario)
