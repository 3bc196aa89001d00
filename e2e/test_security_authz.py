"""External authorization through a real Envoy and a real envoy.service.auth.v3 gRPC server.

An AuthPolicy puts Envoy's ext_authz filter on the rules that use it: unknown or missing API keys get
403, known keys reach the upstream, `auth: none` rules need no key, only the configured headers
reach the authorization service, and a down or slow service denies (fail-closed) or lets requests
through (fail-open) as the policy says.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from harness import free_port, get, wait_for
from harness.configs import backend_doc, document, gateway_doc, route_doc
from harness.grpc_services import AuthzService

KNOWN_KEY = "key-alice"


def _auth_policy(name: str, backend: str, **ext_authz: Any) -> dict[str, Any]:
    return document("AuthPolicy", name, {"extAuthz": {"backend": backend, **ext_authz}})


def _rule(prefix: str, auth: str) -> dict[str, Any]:
    return {"matches": [{"path": {"prefix": prefix}}], "backends": [{"name": "api"}], "auth": auth}


@pytest.fixture(scope="module")
def authz() -> Iterator[AuthzService]:
    service = AuthzService([KNOWN_KEY]).start()
    yield service  # type: ignore[misc]
    service.stop()


@pytest.fixture(scope="module")
def secured(module_upstreams, module_gateway_factory, authz):
    api = module_upstreams("api")
    documents = [
        gateway_doc("edge", free_port(), auth="api-keys"),
        backend_doc("api", [api.port]),
        backend_doc("authz", [authz.port], protocol="GRPC"),
        _auth_policy("api-keys", "authz", timeout="1s", includeHeaders=["x-api-key"]),
        route_doc("chat", [_rule("/healthz", "none"), _rule("/v1", "api-keys")]),
    ]
    gateway = module_gateway_factory(documents)
    return SimpleNamespace(port=gateway.port, api=api)


def test_unknown_and_missing_keys_get_403_and_never_reach_the_upstream(secured, authz):
    secured.api.clear()
    before = authz.checks
    missing = get(secured.port, "/v1/chat/completions")
    unknown = get(secured.port, "/v1/chat/completions", headers={"x-api-key": "key-mallory"})
    assert (missing.status, unknown.status) == (403, 403)
    assert missing.upstream is None and unknown.upstream is None
    assert "unknown or missing x-api-key" in unknown.text  # the authorization service's own answer
    assert authz.checks - before == 2
    assert secured.api.hits == 0


def test_a_known_key_reaches_the_upstream(secured):
    response = get(secured.port, "/v1/chat/completions", headers={"x-api-key": KNOWN_KEY})
    assert (response.status, response.upstream) == (200, "api")
    seen = response.json()["headers"]
    assert seen.get("x-auth-checked") == "yes"  # header added by the authorization service's OK


def test_auth_none_rule_passes_without_a_key_and_without_a_check(secured, authz):
    before = authz.checks
    response = get(secured.port, "/healthz")
    assert (response.status, response.upstream) == (200, "api")
    assert authz.checks == before


def test_only_the_configured_headers_reach_the_authorization_service(secured, authz):
    get(
        secured.port,
        "/v1/models",
        headers={"x-api-key": KNOWN_KEY, "x-private-note": "do-not-forward"},
    )
    assert authz.seen_headers[-1] == {"x-api-key": KNOWN_KEY}


@pytest.fixture
def fail_modes(upstreams, gateway_factory):
    """Two policies on one soon-to-be-down service: /strict fails closed, /lenient fails open; a
    third service answers slowly for /slow (timeout 200ms, fail-closed)."""
    api = upstreams("api")
    doomed = AuthzService([KNOWN_KEY]).start()
    slow = AuthzService([KNOWN_KEY]).start()
    slow.authorizer.delay = 1.0
    documents = [
        gateway_doc("edge", free_port()),
        backend_doc("api", [api.port]),
        backend_doc("authz", [doomed.port], protocol="GRPC"),
        backend_doc("slow-authz", [slow.port], protocol="GRPC"),
        _auth_policy("strict", "authz", failOpen=False, includeHeaders=["x-api-key"]),
        _auth_policy("lenient", "authz", failOpen=True, includeHeaders=["x-api-key"]),
        _auth_policy("hasty", "slow-authz", timeout="200ms", includeHeaders=["x-api-key"]),
        route_doc(
            "chat", [_rule("/strict", "strict"), _rule("/lenient", "lenient"), _rule("/slow", "hasty")]
        ),
    ]
    gateway = gateway_factory(documents)
    yield SimpleNamespace(port=gateway.port, doomed=doomed, slow=slow)
    doomed.stop()
    slow.stop()


def test_a_down_service_denies_when_fail_closed_and_passes_when_fail_open(fail_modes):
    key = {"x-api-key": KNOWN_KEY}
    assert get(fail_modes.port, "/strict", headers=key).status == 200
    assert get(fail_modes.port, "/lenient", headers={"x-api-key": "key-mallory"}).status == 403

    fail_modes.doomed.stop()

    def strict_denies() -> bool:
        return get(fail_modes.port, "/strict", headers=key).status == 403

    wait_for(strict_denies, 5, message="fail-closed policy denies once the service is down")
    lenient = get(fail_modes.port, "/lenient", headers={"x-api-key": "key-mallory"})
    assert (lenient.status, lenient.upstream) == (200, "api")
    assert get(fail_modes.port, "/strict", headers=key).upstream is None


def test_a_service_slower_than_the_timeout_is_a_failure(fail_modes):
    response = get(fail_modes.port, "/slow", headers={"x-api-key": KNOWN_KEY})
    assert response.status == 403
    assert response.elapsed < 0.9  # Envoy gave up after the 200ms timeout, not after the 1s answer
