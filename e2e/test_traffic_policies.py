"""Mirroring, fault injection, header rules and ring-hash load balancing through a real Envoy."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from harness import HttpClient, free_port, get, send_many, tally, wait_for
from harness.configs import backend_doc, gateway_doc, route_doc

RATIO_REQUESTS = 400


def _rule(path: str, backend: str, **policy: object) -> dict[str, object]:
    return {"matches": [{"path": {"prefix": path}}], "backends": [{"name": backend}], **policy}


@pytest.fixture(scope="module")
def policies(module_upstreams, module_gateway_factory):
    names = ("main", "shadow", "partial-shadow", "faulty", "headers", "ring-a", "ring-b", "ring-c")
    up = {name: module_upstreams(name) for name in names}
    ring_ports = [up[n].port for n in ("ring-a", "ring-b", "ring-c")]
    documents = [
        gateway_doc("edge", free_port()),
        *(backend_doc(n, [up[n].port]) for n in ("main", "shadow", "partial-shadow", "faulty")),
        backend_doc("headers", [up["headers"].port], requestHeaders={"set": {"x-backend-key": "k-123"}}),
        backend_doc("ring", ring_ports, loadBalancer="RING_HASH", hashOn={"header": "x-session-id"}),
        route_doc(
            "policies",
            [
                _rule("/mirror-all", "main", mirror={"backend": "shadow", "percent": 100}),
                _rule("/mirror-some", "main", mirror={"backend": "partial-shadow", "percent": 25}),
                _rule("/abort-all", "faulty", fault={"abort": {"percent": 100, "status": 429}}),
                _rule("/abort-some", "faulty", fault={"abort": {"percent": 25, "status": 503}}),
                _rule("/delay", "faulty", fault={"delay": {"percent": 100, "duration": "400ms"}}),
                _rule(
                    "/headers",
                    "headers",
                    headers={
                        "request": {"set": {"x-route": "chat"}, "add": {"x-tag": "gw"}, "remove": ["x-drop"]},
                        "response": {"set": {"x-served-by": "gitxds"}, "remove": ["x-internal"]},
                    },
                ),
                _rule("/ring", "ring"),
            ],
        ),
    ]
    gateway = module_gateway_factory(documents)
    return SimpleNamespace(port=gateway.port, up=up)


# -- mirroring -------------------------------------------------------------------------------------


def test_mirror_copies_every_request_and_the_client_sees_only_the_primary(policies):
    main, shadow = policies.up["main"], policies.up["shadow"]
    responses = send_many(policies.port, 30, "/mirror-all/v1/chat", method="POST", body={"prompt": "hi"})
    assert {(r.status, r.upstream) for r in responses} == {(200, "main")}
    wait_for(lambda: shadow.hits == 30, 3, message="30 mirrored requests")
    copy = shadow.requests[-1]
    assert copy.path == "/mirror-all/v1/chat"
    assert copy.body == b'{"prompt": "hi"}'
    assert "-shadow" in copy.headers["host"]
    assert main.hits >= 30


def test_mirror_percent_copies_a_share(policies):
    partial = policies.up["partial-shadow"]
    counts = tally(policies.port, RATIO_REQUESTS, "/mirror-some")
    assert counts == {"main": RATIO_REQUESTS}
    wait_for(lambda: partial.hits > 0, 3)
    share = 100.0 * partial.hits / RATIO_REQUESTS
    print(f"mirror 25%: {partial.hits}/{RATIO_REQUESTS} copied ({share:.1f}%)")
    assert 15.0 <= share <= 35.0


# -- fault injection -------------------------------------------------------------------------------


def test_abort_fault_answers_without_reaching_the_upstream(policies):
    faulty = policies.up["faulty"]
    before = faulty.hits
    responses = send_many(policies.port, 20, "/abort-all")
    assert {r.status for r in responses} == {429}
    assert faulty.hits == before


def test_abort_fault_percent(policies):
    counts = tally(policies.port, RATIO_REQUESTS, "/abort-some")
    aborted = 100.0 * counts["status:503"] / RATIO_REQUESTS
    print(f"abort 25%: {counts['status:503']}/{RATIO_REQUESTS} aborted ({aborted:.1f}%)")
    assert counts["status:503"] + counts["faulty"] == RATIO_REQUESTS
    assert 15.0 <= aborted <= 35.0


def test_delay_fault_holds_the_request(policies):
    with HttpClient(policies.port) as client:
        delayed = client.request("/delay")
        plain = client.request("/mirror-some")
    assert (delayed.status, delayed.upstream) == (200, "faulty")
    assert delayed.elapsed >= 0.38  # 400 ms, less timer granularity
    assert delayed.elapsed - plain.elapsed >= 0.3


# -- header rules ----------------------------------------------------------------------------------


def test_request_and_response_header_rules(policies):
    response = get(
        policies.port,
        "/headers?header=x-internal:secret&header=x-kept:yes",
        headers={"x-route": "spoofed", "x-drop": "private", "x-tag": "client"},
    )
    assert response.status == 200
    seen = policies.up["headers"].requests[-1].headers
    assert seen["x-route"] == "chat"
    assert "x-drop" not in seen
    assert seen["x-backend-key"] == "k-123"
    assert response.json()["headers"]["x-route"] == "chat"
    assert response.headers["x-served-by"] == "gitxds"
    assert "x-internal" not in response.headers
    assert response.headers["x-kept"] == "yes"


def test_added_request_header_is_appended(policies):
    get(policies.port, "/headers", headers={"x-tag": "client"})
    raw = policies.up["headers"].requests[-1].headers["x-tag"]
    assert "client" in raw and "gw" in raw


# -- load balancing --------------------------------------------------------------------------------


def test_ring_hash_keeps_each_session_on_one_endpoint(policies):
    chosen = {}
    for session in range(12):
        counts = tally(policies.port, 8, "/ring", headers={"x-session-id": f"user-{session}"})
        assert len(counts) == 1, f"session {session} was spread over {dict(counts)}"
        chosen[session] = next(iter(counts))
    assert set(chosen.values()) <= {"ring-a", "ring-b", "ring-c"}
    assert len(set(chosen.values())) >= 2, "sessions spread over the endpoints"
