"""Incremental (delta) xDS rules, against the real server and a fake Envoy."""

from __future__ import annotations

from gitxds import typeurls

from .fake_envoy import names_in
from .harness import Env, run_xds
from .resources import snapshot

CDS, EDS, LDS, RDS = typeurls.CLUSTER, typeurls.ENDPOINT, typeurls.LISTENER, typeurls.ROUTE


def test_delta_wildcard_gets_everything_with_per_resource_versions() -> None:
    async def scenario(env: Env) -> None:
        snap = snapshot(["a", "b"])
        env.cache.set_snapshot("gw", snap)
        envoy = await env.connect(delta=True)
        await envoy.subscribe(CDS)
        response = await envoy.recv(CDS)
        assert names_in(response) == ["a", "b"]
        expected = {r.name: r.version for r in snap.resources(CDS)}
        assert {r.name: r.version for r in response.resources} == expected
        assert response.nonce

    run_xds(scenario)


def test_delta_removed_resources_for_deletions_and_for_subscribed_names_that_do_not_exist() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["a", "b"]))
        envoy = await env.connect(delta=True)
        await envoy.subscribe(EDS, ["a", "b", "ghost"])
        first = await envoy.recv(EDS)
        assert sorted(names_in(first)) == ["a", "b"]
        assert list(first.removed_resources) == ["ghost"]
        await envoy.delta_ack(first)
        env.cache.set_snapshot("gw", snapshot(["a"]))
        second = await envoy.recv(EDS)
        assert names_in(second) == [] and list(second.removed_resources) == ["b"]

    run_xds(scenario)


def test_delta_resubscribe_is_always_answered() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["a"]))
        envoy = await env.connect(delta=True)
        await envoy.subscribe(EDS, ["a"])
        first = await envoy.recv(EDS)
        await envoy.delta_ack(first)
        await env.expect_silence(envoy)
        # Envoy re-subscribes when a cluster warms; it must get the resource again.
        await envoy.subscribe(EDS, ["a"])
        again = await envoy.recv(EDS)
        assert names_in(again) == ["a"] and again.resources[0].version == first.resources[0].version
        assert again.nonce != first.nonce

    run_xds(scenario)


def test_delta_unsubscribing_unknown_names_is_ignored() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["a"]))
        envoy = await env.connect(delta=True)
        await envoy.subscribe(EDS, ["a"])
        await envoy.delta_ack(await envoy.recv(EDS))
        await envoy.subscribe(EDS, unsubscribe=["never-had-it"])
        await env.expect_silence(envoy)
        assert envoy.error is None
        # An unsubscribed name is not reported as removed later either.
        await envoy.subscribe(EDS, unsubscribe=["a"])
        await env.expect_silence(envoy)
        env.cache.set_snapshot("gw", snapshot(["b"]))
        await env.expect_silence(envoy)

    run_xds(scenario)


def test_delta_initial_resource_versions_send_only_what_differs() -> None:
    async def scenario(env: Env) -> None:
        snap = snapshot(["a", "b", "c"])
        env.cache.set_snapshot("gw", snap)
        versions = {r.name: r.version for r in snap.resources(CDS)}
        envoy = await env.connect(delta=True)
        held = {"a": versions["a"], "b": "stale-version", "gone": "1"}
        await envoy.subscribe(CDS, initial=held)
        response = await envoy.recv(CDS)
        assert sorted(names_in(response)) == ["b", "c"]
        assert list(response.removed_resources) == ["gone"]

    run_xds(scenario)


def test_delta_reconnect_with_identical_versions_gets_nothing() -> None:
    async def scenario(env: Env) -> None:
        snap = snapshot(["a", "b"])
        env.cache.set_snapshot("gw", snap)
        first = await env.connect(delta=True)
        await first.subscribe(CDS)
        await first.subscribe(EDS, ["a", "b"])
        cds, eds = await first.recv(CDS), await first.recv(EDS)
        await first.close()
        again = await env.connect(delta=True)
        await again.subscribe(CDS, initial={r.name: r.version for r in cds.resources})
        await again.subscribe(EDS, ["a", "b"], initial={r.name: r.version for r in eds.resources})
        await env.expect_silence(again)
        [status] = env.server.proxies()
        assert status.in_sync

    run_xds(scenario)


def test_delta_nacked_version_is_not_resent() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["a"]))
        envoy = await env.connect(delta=True)
        await envoy.subscribe(CDS)
        await envoy.delta_ack(await envoy.recv(CDS))
        env.cache.set_snapshot("gw", snapshot(["a", "bad"]))
        rejected = await envoy.recv(CDS)
        await envoy.nack(rejected, "bad cluster")
        env.cache.set_snapshot("gw", snapshot(["a", "bad"]))
        await env.expect_silence(envoy)
        [status] = env.server.proxies()
        assert status.types[CDS].error_message == "bad cluster"
        assert status.types[CDS].nacked_version == rejected.system_version_info
        env.cache.set_snapshot("gw", snapshot(["a", "good"]))
        fixed = await envoy.recv(CDS)
        assert names_in(fixed) == ["good"]

    run_xds(scenario)


def test_delta_name_subscribed_before_it_exists_is_pushed_when_it_appears() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["a"]))
        envoy = await env.connect(delta=True)
        await envoy.subscribe(RDS, ["later"])
        missing = await envoy.recv(RDS)
        assert list(missing.removed_resources) == ["later"]
        await envoy.delta_ack(missing)
        env.cache.set_snapshot("gw", snapshot(["a"], route_configs=["routes", "later"]))
        assert names_in(await envoy.recv(RDS)) == ["later"]

    run_xds(scenario)


def test_delta_system_version_info_is_only_informative() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["a"]))
        envoy = await env.connect(delta=True)
        await envoy.subscribe(CDS)
        first = await envoy.recv(CDS)
        await envoy.delta_ack(first)
        env.cache.set_snapshot("gw", snapshot(["a", "b"]))
        second = await envoy.recv(CDS)
        # Only what changed is sent, tagged with its own version; the system version just differs.
        assert names_in(second) == ["b"]
        assert second.system_version_info != first.system_version_info

    run_xds(scenario)
