"""Backend protocols and endpoint sources: cleartext HTTP/2 to ``protocol: HTTP2`` backends, HTTP/1.1
otherwise; endpoints listed statically or resolved by Envoy from a DNS name."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from harness import HttpClient, free_port, get, tally
from harness.configs import backend_doc, document, gateway_doc, route_doc
from harness.upstream_h2 import H2UpstreamServer


def _rule(path: str, backend: str, **policy: object) -> dict[str, object]:
    return {"matches": [{"path": {"prefix": path}}], "backends": [{"name": backend}], **policy}


@pytest.fixture(scope="module")
def protocols(module_upstreams, module_gateway_factory):
    h2_servers = [H2UpstreamServer(name).start() for name in ("h2-model", "h2-flaky", "h2-a", "h2-b")]
    servers = {server.name: server for server in h2_servers}
    by_dns = module_upstreams("by-strict-dns")
    by_logical_dns = module_upstreams("by-logical-dns")
    documents = [
        gateway_doc("edge", free_port()),
        document("Backend", "strict-dns", {"dns": {"hostname": "localhost", "port": by_dns.port}}),
        document(
            "Backend",
            "logical-dns",
            {"dns": {"hostname": "localhost", "port": by_logical_dns.port, "logical": True}},
        ),
        backend_doc("h2-model", [servers["h2-model"].port], protocol="HTTP2"),
        backend_doc("h2-flaky", [servers["h2-flaky"].port], protocol="HTTP2"),
        backend_doc(
            "h2-pool",
            [servers["h2-a"].port, servers["h2-b"].port],
            protocol="HTTP2",
            healthCheck={"path": "/healthz", "interval": "1s", "timeout": "500ms"},
        ),
        route_doc(
            "h2",
            [
                _rule("/v1/chat", "h2-model"),
                _rule("/retry", "h2-flaky", retries={"attempts": 2, "on": ["5xx"]}),
                _rule("/pool", "h2-pool"),
                _rule("/strict-dns", "strict-dns"),
                _rule("/logical-dns", "logical-dns"),
            ],
        ),
    ]
    try:
        gateway = module_gateway_factory(documents)
        yield SimpleNamespace(port=gateway.port, envoy=gateway.envoy, servers=servers)
    finally:
        for server in h2_servers:
            server.stop()


def test_http1_client_reaches_an_http2_backend(protocols):
    response = get(protocols.port, "/v1/chat/completions", method="POST", body={"model": "chat"})
    assert (response.status, response.upstream) == (200, "h2-model")
    seen = response.json()
    assert seen["protocol"] == "HTTP/2"
    assert seen["method"] == "POST"
    assert seen["path"] == "/v1/chat/completions"
    assert protocols.servers["h2-model"].requests[-1].body == b'{"model": "chat"}'


def test_many_requests_share_http2_connections(protocols):
    with HttpClient(protocols.port) as client:
        statuses = {client.request("/v1/chat").status for _ in range(50)}
    assert statuses == {200}
    assert protocols.servers["h2-model"].hits >= 50
    assert protocols.envoy.stat("cluster.h2-model.upstream_cx_http2_total") == 1
    assert protocols.envoy.stat("cluster.h2-model.upstream_cx_http1_total") == 0


def test_retries_over_http2(protocols):
    flaky = protocols.servers["h2-flaky"]
    flaky.configure(fail_status=503, fail_mode="first", fail_count=1)
    response = get(protocols.port, "/retry")
    assert (response.status, response.upstream) == (200, "h2-flaky")
    assert flaky.hits == 2


def test_http2_health_checks_and_balancing(protocols):
    counts = tally(protocols.port, 40, "/pool")
    assert counts == {"h2-a": 20, "h2-b": 20}
    assert protocols.servers["h2-a"].health_checks >= 1


@pytest.mark.parametrize("source", ["strict-dns", "logical-dns"])
def test_dns_backends_resolve_inside_envoy(protocols, source):
    response = get(protocols.port, f"/{source}")
    assert (response.status, response.upstream) == (200, "by-" + source)
