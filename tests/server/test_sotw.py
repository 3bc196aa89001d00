"""State-of-the-World protocol rules, one test per rule, against the real server and a fake Envoy."""

from __future__ import annotations

from gitxds import typeurls

from .fake_envoy import names_in
from .harness import Env, run_xds
from .resources import snapshot

CDS, EDS, LDS, RDS = typeurls.CLUSTER, typeurls.ENDPOINT, typeurls.LISTENER, typeurls.ROUTE


def test_every_response_carries_a_fresh_nonce() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["a"]))
        envoy = await env.connect()
        await envoy.request(CDS)
        await envoy.request(EDS, ["a"])
        clusters, endpoints = await envoy.recv(CDS), await envoy.recv(EDS)
        await envoy.ack(clusters)
        await envoy.ack(endpoints, ["a"])
        await env.wait_in_sync()
        nonces = [clusters.nonce, endpoints.nonce]
        names = ["a"]
        for label in ("v2", "v3"):
            names.append(label)
            env.cache.set_snapshot("gw", snapshot(names))
            clusters = await envoy.recv(CDS)
            await envoy.ack(clusters)
            # Like Envoy: the new cluster's EDS name is requested on the latest EDS nonce.
            await envoy.request(EDS, names, nonce=endpoints.nonce, version=endpoints.version_info)
            endpoints = await envoy.recv(EDS)
            await envoy.ack(endpoints, names)
            await env.wait_in_sync()
            nonces += [clusters.nonce, endpoints.nonce]
        assert all(nonces) and len(set(nonces)) == len(nonces)

    run_xds(scenario)


async def _synced(env: Env, clusters: list[str], node_id: str = "envoy-1") -> tuple[object, ...]:
    """A SotW ADS client that has received and ACKed CDS and EDS for ``clusters``."""
    envoy = await env.connect(node_id)
    await envoy.request(CDS)
    await envoy.request(EDS, clusters)
    cds, eds = await envoy.recv(CDS), await envoy.recv(EDS)
    await envoy.ack(cds)
    await envoy.ack(eds, clusters)
    await env.wait_in_sync()
    return envoy, cds, eds


def test_stale_nonce_gets_no_answer_in_sotw() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["a"]))
        envoy, cds, _ = await _synced(env, ["a"])
        env.cache.set_snapshot("gw", snapshot(["a", "b"]))
        newer = await envoy.recv(CDS)
        assert newer.nonce != cds.nonce
        # A request on the older nonce (sent before the proxy saw the newer response) is stale.
        await envoy.request(EDS, ["a", "b"], nonce="no-such-nonce")
        await envoy.request(CDS, nonce=cds.nonce, version=cds.version_info)
        await env.expect_silence(envoy)
        await envoy.ack(newer)
        await env.expect_silence(envoy)

    run_xds(scenario)


def test_nack_is_error_detail_not_a_version_mismatch() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["a"]))
        envoy = await env.connect()
        await envoy.request(CDS)
        first = await envoy.recv(CDS)
        # An ACK may carry any version string: without error_detail it is still an ACK.
        await envoy.request(CDS, nonce=first.nonce, version="something-else")
        await env.expect_silence(envoy)
        [status] = env.server.proxies()
        assert status.types[CDS].acked_version == first.version_info
        assert status.types[CDS].nacked_version == ""
        env.cache.set_snapshot("gw", snapshot(["a", "b"]))
        second = await envoy.recv(CDS)
        # error_detail makes it a NACK even though version_info names the new version.
        await envoy.request(CDS, nonce=second.nonce, version=second.version_info, error="bad cluster b")
        await env.expect_silence(envoy)
        [status] = env.server.proxies()
        assert status.types[CDS].acked_version == first.version_info
        assert status.types[CDS].nacked_version == second.version_info
        assert status.types[CDS].error_message == "bad cluster b"
        assert [(e.accepted, e.version) for e in env.events] == [
            (True, first.version_info),
            (False, second.version_info),
        ]

    run_xds(scenario)


def test_nacked_version_is_never_resent_until_a_newer_one_exists() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["a"]))
        envoy, cds, _ = await _synced(env, ["a"])
        env.cache.set_snapshot("gw", snapshot(["a", "bad"]))
        rejected = await envoy.recv(CDS)
        await envoy.nack(rejected, "cluster bad: invalid", last_version=cds.version_info)
        # The same content published again (a new snapshot object, a redeploy) is not re-sent.
        env.cache.set_snapshot("gw", snapshot(["a", "bad"]))
        await env.expect_silence(envoy)
        assert env.metric("gitxds_xds_nacks_total", type="clusters") == 1
        [status] = env.server.proxies()
        assert status.types[CDS].error_message == "cluster bad: invalid"
        assert not status.types[CDS].in_sync
        env.cache.set_snapshot("gw", snapshot(["a", "fixed"]))
        fixed = await envoy.recv(CDS)
        assert names_in(fixed) == ["a", "fixed"]
        await envoy.ack(fixed)
        await env.expect_silence(envoy)

    run_xds(scenario)


def test_node_is_only_on_the_first_request_and_state_is_per_stream() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["a"]))
        env.cache.set_snapshot("other", snapshot(["x"]))
        one = await env.connect("envoy-1", "gw")
        two = await env.connect("envoy-2", "other")
        await one.request(CDS)
        await two.request(CDS)
        assert names_in(await one.recv(CDS)) == ["a"]
        assert names_in(await two.recv(CDS)) == ["x"]
        # Later requests carry no node; the server knows the stream.
        await one.request(EDS, ["a"])
        assert names_in(await one.recv(EDS)) == ["a"]
        statuses = {s.node_id: s for s in env.server.proxies()}
        assert statuses["envoy-1"].group == "gw"
        assert statuses["envoy-2"].group == "other"

    run_xds(scenario)


def test_sotw_lds_and_cds_are_the_full_set() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["a", "b"]))
        envoy = await env.connect()
        await envoy.request(CDS)
        await envoy.request(LDS)
        cds, lds = await envoy.recv(CDS), await envoy.recv(LDS)
        assert names_in(cds) == ["a", "b"]
        assert names_in(lds) == ["listener-routes"]
        await envoy.ack(cds)
        await envoy.ack(lds)
        env.cache.set_snapshot("gw", snapshot(["a", "b", "c"]))
        # The response lists every cluster, not only the new one.
        assert names_in(await envoy.recv(CDS)) == ["a", "b", "c"]

    run_xds(scenario)


def test_sotw_rds_and_eds_send_only_requested_names() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["a", "b", "c"], route_configs=["r1", "r2"]))
        envoy = await env.connect()
        await envoy.request(EDS, ["b"])
        await envoy.request(RDS, ["r2"])
        assert names_in(await envoy.recv(EDS)) == ["b"]
        assert names_in(await envoy.recv(RDS)) == ["r2"]

    run_xds(scenario)


def test_wildcard_means_all_until_names_are_given_and_star_means_all() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["a", "b"]))
        envoy = await env.connect()
        await envoy.request(CDS)
        everything = await envoy.recv(CDS)
        assert names_in(everything) == ["a", "b"]
        await envoy.request(CDS, ["a"], nonce=everything.nonce, version=everything.version_info)
        only_a = await envoy.recv(CDS)
        assert names_in(only_a) == ["a"]
        await envoy.request(CDS, ["*", "a"], nonce=only_a.nonce, version=only_a.version_info)
        assert names_in(await envoy.recv(CDS)) == ["a", "b"]

    run_xds(scenario)


def test_name_requested_before_it_exists_is_pushed_when_it_appears() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["a"]))
        envoy = await env.connect()
        await envoy.request(EDS, ["later"])
        await env.expect_silence(envoy)
        env.cache.set_snapshot("gw", snapshot(["a", "later"]))
        assert names_in(await envoy.recv(EDS)) == ["later"]

    run_xds(scenario)


def test_newly_requested_name_is_answered_even_if_sent_before() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["a", "b"]))
        envoy = await env.connect()
        await envoy.request(EDS, ["a", "b"])
        both = await envoy.recv(EDS)
        await envoy.request(EDS, ["a"], nonce=both.nonce, version=both.version_info)
        only_a = await envoy.recv(EDS)
        await envoy.request(EDS, ["a", "b"], nonce=only_a.nonce, version=only_a.version_info)
        assert names_in(await envoy.recv(EDS)) == ["a", "b"]

    run_xds(scenario)


def test_reconnecting_proxy_holding_the_current_version_is_sent_nothing() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["a"]))
        first = await env.connect()
        await first.request(CDS)
        cds = await first.recv(CDS)
        await first.close()
        # Versions are content hashes: the same version on a new stream means the same clusters.
        again = await env.connect()
        await again.request(CDS, version=cds.version_info)
        await env.expect_silence(again)
        [status] = env.server.proxies()
        assert status.types[CDS].in_sync
        env.cache.set_snapshot("gw", snapshot(["a", "b"]))
        assert names_in(await again.recv(CDS)) == ["a", "b"]

    run_xds(scenario)


def test_reconnecting_proxy_with_another_version_gets_config() -> None:
    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["a"]))
        envoy = await env.connect()
        await envoy.request(CDS, version="some-older-version")
        assert names_in(await envoy.recv(CDS)) == ["a"]

    run_xds(scenario)


def test_unresolved_node_stays_connected_and_gets_config_when_a_group_matches() -> None:
    groups = {"known": "gw"}

    def resolver(node_id: str, node_cluster: str) -> str | None:
        return groups.get(node_cluster)

    async def scenario(env: Env) -> None:
        env.cache.set_snapshot("gw", snapshot(["a"]))
        envoy = await env.connect("envoy-new", "unknown")
        await envoy.request(CDS)
        await env.expect_silence(envoy)
        [status] = env.server.proxies()
        assert status.group is None and not status.in_sync
        groups["unknown"] = "gw"
        env.cache.set_snapshot("gw", snapshot(["a", "b"]))
        cds = await envoy.recv(CDS)
        assert names_in(cds) == ["a", "b"]
        await envoy.ack(cds)
        await env.expect_silence(envoy)
        [status] = env.server.proxies()
        assert status.group == "gw" and status.in_sync

    run_xds(scenario, resolver)
