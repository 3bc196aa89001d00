"""Global rate limits: two real Envoys share one bucket per key through a real gRPC rate limit service.

The service's limits come from `gitxds export ratelimit` run on the same config directory, so the
descriptors Envoy sends and the ones the service knows are produced by gitxds from one policy.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness import HttpClient, free_port
from harness.configs import backend_doc, document, gateway_doc, route_doc, write_config
from harness.grpc_services import RateLimitService
from harness.serve import gitxds_command

FREE_LIMIT = 20
PRO_LIMIT = 200


def _documents(port: int, api_port: int, ratelimit_port: int) -> list[dict[str, Any]]:
    policy = {
        "mode": "global",
        "key": {"header": "x-api-key"},
        "tier": {"header": "x-tier", "default": "free"},
        "limits": {"free": f"{FREE_LIMIT}/minute", "pro": f"{PRO_LIMIT}/minute"},
        "service": {"backend": "ratelimit", "domain": "gitxds"},
    }
    return [
        gateway_doc("edge", port, rateLimit="tiered"),
        backend_doc("api", [api_port]),
        backend_doc("ratelimit", [ratelimit_port], protocol="GRPC"),
        document("RateLimitPolicy", "tiered", policy),
        route_doc("chat", [{"backends": [{"name": "api"}]}]),
    ]


@pytest.fixture(scope="module")
def two_envoys(module_upstreams, module_gateway_factory, tmp_path_factory: pytest.TempPathFactory):
    api = module_upstreams("api")
    service = RateLimitService().start()
    ratelimit_port = service.port
    config_dir = tmp_path_factory.mktemp("global-config")
    write_config(config_dir, _documents(free_port(), api.port, ratelimit_port))
    exported = tmp_path_factory.mktemp("ratelimit-service")
    gitxds_command("export", "ratelimit", str(config_dir), "--output-dir", str(exported))
    service.load(sorted(exported.glob("*.yaml")))
    envoy_a = module_gateway_factory(_documents(free_port(), api.port, ratelimit_port))
    envoy_b = module_gateway_factory(_documents(free_port(), api.port, ratelimit_port))
    yield SimpleNamespace(ports=(envoy_a.port, envoy_b.port), service=service, exported=exported)
    service.stop()


def _alternate(ports: tuple[int, int], count: int, headers: dict[str, str]) -> list[tuple[int, int]]:
    """``count`` requests alternating between the Envoys; (Envoy port, status) of each."""
    clients = {port: HttpClient(port) for port in ports}
    try:
        return [
            (port, clients[port].request("/v1/chat", headers=headers).status)
            for port, _ in zip(itertools.cycle(ports), range(count), strict=False)
        ]
    finally:
        for client in clients.values():
            client.close()


def test_the_exported_service_config_matches_the_policy(two_envoys):
    text = (Path(two_envoys.exported) / "gitxds.yaml").read_text()
    assert "domain: gitxds" in text
    assert "requests_per_unit: 20\n" in text and "requests_per_unit: 200\n" in text


def test_requests_through_two_envoys_count_against_one_bucket(two_envoys):
    results = _alternate(two_envoys.ports, FREE_LIMIT + 2, {"x-api-key": "shared-free", "x-tier": "free"})
    print(f"free key through Envoys {two_envoys.ports}: {results}")
    statuses = [status for _, status in results]
    assert statuses == [200] * FREE_LIMIT + [429, 429]
    assert {port for port, status in results if status == 200} == set(two_envoys.ports)  # both served
    assert two_envoys.service.calls >= FREE_LIMIT + 2


def test_a_pro_key_has_its_own_larger_bucket(two_envoys):
    results = _alternate(two_envoys.ports, FREE_LIMIT + 2, {"x-api-key": "shared-pro", "x-tier": "pro"})
    assert {status for _, status in results} == {200}


def test_limited_responses_carry_rate_limit_headers(two_envoys):
    port_a, port_b = two_envoys.ports
    headers = {"x-api-key": "headers-free"}
    with HttpClient(port_a) as a, HttpClient(port_b) as b:
        first = a.request("/v1/chat", headers=headers)
        second = b.request("/v1/chat", headers=headers)
    assert first.headers["x-ratelimit-limit"].startswith(str(FREE_LIMIT))
    assert int(first.headers["x-ratelimit-remaining"]) == FREE_LIMIT - 1
    assert int(second.headers["x-ratelimit-remaining"]) == FREE_LIMIT - 2  # B saw A's request
