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
        nonces = [clusters.nonce, endpoints.nonce]
        for label in ("v2", "v3"):
            env.cache.set_snapshot("gw", snapshot(["a", label]))
            clusters = await envoy.recv(CDS)
            await envoy.ack(clusters)
            # Like Envoy: the new cluster's EDS name is requested on the latest EDS nonce.
            await envoy.request(EDS, ["a", label], nonce=endpoints.nonce, version=endpoints.version_info)
            endpoints = await envoy.recv(EDS)
            await envoy.ack(endpoints, ["a", label])
            nonces += [clusters.nonce, endpoints.nonce]
        assert all(nonces) and len(set(nonces)) == len(nonces)

    run_xds(scenario)
