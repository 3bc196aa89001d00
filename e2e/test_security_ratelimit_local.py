"""Local rate limits per API key and tier, enforced inside a real Envoy (no rate limit service).

A `free` key at 20/minute is refused with 429 on request 21 while a `pro` key at 200/minute is not;
every key has its own bucket; responses carry x-ratelimit-* headers; rules with `rateLimit: none`
are not limited.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from harness import HttpClient, Response, free_port
from harness.configs import backend_doc, document, gateway_doc, route_doc

FREE_LIMIT = 20
PRO_LIMIT = 200


@pytest.fixture(scope="module")
def limited(module_upstreams, module_gateway_factory):
    api = module_upstreams("api")
    policy = {
        "mode": "local",
        "key": {"header": "x-api-key"},
        "tier": {"header": "x-tier", "default": "free"},
        "limits": {"free": f"{FREE_LIMIT}/minute", "pro": f"{PRO_LIMIT}/minute"},
    }
    rules = [
        {"matches": [{"path": {"prefix": "/healthz"}}], "backends": [{"name": "api"}], "rateLimit": "none"},
        {"matches": [{"path": {"prefix": "/v1"}}], "backends": [{"name": "api"}]},
    ]
    documents = [
        gateway_doc("edge", free_port(), rateLimit="tiered"),
        backend_doc("api", [api.port]),
        document("RateLimitPolicy", "tiered", policy),
        route_doc("chat", rules),
    ]
    gateway = module_gateway_factory(documents)
    return SimpleNamespace(port=gateway.port, envoy=gateway.envoy)


def _burst(port: int, count: int, headers: dict[str, str], path: str = "/v1/chat") -> list[Response]:
    with HttpClient(port) as client:
        return [client.request(path, headers=headers) for _ in range(count)]


def test_free_key_gets_429_on_request_21_and_pro_key_does_not(limited):
    free = _burst(limited.port, FREE_LIMIT + 1, {"x-api-key": "free-1", "x-tier": "free"})
    pro = _burst(limited.port, FREE_LIMIT + 1, {"x-api-key": "pro-1", "x-tier": "pro"})

    statuses = [r.status for r in free]
    print(f"free key, {FREE_LIMIT}/minute: statuses {statuses}")
    assert statuses == [200] * FREE_LIMIT + [429]
    assert free[-1].upstream is None  # Envoy answered; the upstream never saw request 21
    assert free[-1].text == "local_rate_limited"
    assert free[-1].headers["x-ratelimit-remaining"] == "0"
    assert [r.status for r in pro] == [200] * (FREE_LIMIT + 1)


def test_rate_limit_headers_show_the_tier_limit_and_what_remains(limited):
    free = _burst(limited.port, 3, {"x-api-key": "free-headers"})  # no x-tier: the default tier
    pro = _burst(limited.port, 1, {"x-api-key": "pro-headers", "x-tier": "pro"})
    assert free[0].headers["x-ratelimit-limit"].startswith(str(FREE_LIMIT))
    assert [int(r.headers["x-ratelimit-remaining"]) for r in free] == [19, 18, 17]
    assert int(free[0].headers["x-ratelimit-reset"]) <= 60
    assert pro[0].headers["x-ratelimit-limit"].startswith(str(PRO_LIMIT))
    assert int(pro[0].headers["x-ratelimit-remaining"]) == PRO_LIMIT - 1


def test_every_key_has_its_own_bucket(limited):
    exhausted = _burst(limited.port, FREE_LIMIT + 1, {"x-api-key": "free-a"})
    assert exhausted[-1].status == 429
    others = [_burst(limited.port, 5, {"x-api-key": f"free-{name}"}) for name in ("b", "c", "d")]
    assert all(r.status == 200 for responses in others for r in responses)
    assert _burst(limited.port, 1, {"x-api-key": "free-a"})[0].status == 429  # a stays limited


def test_an_unknown_tier_gets_the_default_tier_limit(limited):
    responses = _burst(limited.port, FREE_LIMIT + 1, {"x-api-key": "sneaky", "x-tier": "platinum"})
    assert [r.status for r in responses] == [200] * FREE_LIMIT + [429]


def test_a_rule_with_rate_limit_none_is_not_limited(limited):
    responses = _burst(limited.port, FREE_LIMIT + 5, {"x-api-key": "probe"}, path="/healthz")
    assert {r.status for r in responses} == {200}
    assert "x-ratelimit-limit" not in responses[-1].headers
