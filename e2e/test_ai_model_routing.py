"""Routing on the JSON body's ``model``, inside a real Envoy fed by the gitxds xDS server.

Three models go to three real upstreams; requests the body cannot route get the answers
docs/config.md promises: 400 for a body that is not JSON or has no ``model``, 413 over the body
limit, 404 for a model no rule serves.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from harness import HttpClient, free_port
from harness.configs import backend_doc, gateway_doc, route_doc

CHAT = "/v1/chat/completions"
BODY_LIMIT = 4096


def _documents(port: int, upstream_ports: dict[str, int]) -> list[dict[str, Any]]:
    def rule(backend: str, model: dict[str, str]) -> dict[str, Any]:
        return {"matches": [{"path": {"prefix": CHAT}, "model": model}], "backends": [{"name": backend}]}

    return [
        gateway_doc("edge", port, modelRouting={"maxBodyBytes": BODY_LIMIT}),
        *(backend_doc(name, [p], api="openai") for name, p in upstream_ports.items()),
        backend_doc("plain", [upstream_ports["gpt"]]),
        route_doc(
            "chat",
            [
                rule("gpt", {"exact": "gpt-4o"}),
                rule("llama", {"prefix": "llama-"}),
                rule("mistral", {"regex": "mistral-(small|large)"}),
                {"matches": [{"path": {"prefix": "/health"}}], "backends": [{"name": "plain"}]},
            ],
        ),
    ]


@pytest.fixture(scope="module")
def gateway(module_upstreams, module_gateway_factory):
    upstreams = {name: module_upstreams(name) for name in ("gpt", "llama", "mistral")}
    running = module_gateway_factory(_documents(free_port(), {n: u.port for n, u in upstreams.items()}))
    return SimpleNamespace(port=running.port, upstreams=upstreams, node=running.node_id)


def _post(port: int, body: bytes | dict[str, Any], content_type: str = "application/json") -> Any:
    with HttpClient(port) as client:
        return client.request(CHAT, method="POST", body=body, headers={"content-type": content_type})


@pytest.mark.parametrize(
    ("model", "upstream"),
    [("gpt-4o", "gpt"), ("llama-3-70b", "llama"), ("mistral-small", "mistral"), ("mistral-large", "mistral")],
)
def test_each_model_reaches_its_backend(gateway, model, upstream):
    response = _post(gateway.port, {"model": model, "messages": [{"role": "user", "content": "hi"}]})
    assert response.status == 200, response.text
    assert response.upstream == upstream
    # The upstream receives the body untouched.
    assert json.loads(gateway.upstreams[upstream].requests[-1].body)["model"] == model


def test_charset_content_type_routes_too(gateway):
    body = json.dumps({"model": "llama-3-8b"}).encode()
    response = _post(gateway.port, body, "application/json; charset=utf-8")
    assert (response.status, response.upstream) == (200, "llama")


def test_unknown_model_gets_404_naming_the_problem(gateway):
    hits = {name: u.hits for name, u in gateway.upstreams.items()}
    response = _post(gateway.port, {"model": "gpt-5-imaginary"})
    assert response.status == 404
    assert response.json()["error"]["code"] == "model_not_found"
    assert {name: u.hits for name, u in gateway.upstreams.items()} == hits


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"model=gpt-4o", "application/x-www-form-urlencoded"),
        (b"{not json", "application/json"),
        (json.dumps({"messages": []}).encode(), "application/json"),
        (json.dumps({"model": "gpt-4o"}).encode(), "text/plain"),
        (b"", "application/json"),
    ],
    ids=["form", "broken-json", "no-model", "not-json-type", "empty"],
)
def test_bodies_without_a_readable_model_get_400(gateway, body, content_type):
    hits = {name: u.hits for name, u in gateway.upstreams.items()}
    response = _post(gateway.port, body, content_type)
    assert response.status == 400, response.text
    assert response.json()["error"]["code"] == "model_missing"
    assert {name: u.hits for name, u in gateway.upstreams.items()} == hits


def test_body_over_the_limit_gets_413_and_reaches_no_backend(gateway):
    hits = {name: u.hits for name, u in gateway.upstreams.items()}
    big = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * BODY_LIMIT}]}
    response = _post(gateway.port, big)
    assert response.status == 413
    assert {name: u.hits for name, u in gateway.upstreams.items()} == hits
    # Just under the limit still routes.
    small = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * (BODY_LIMIT - 200)}]}
    assert _post(gateway.port, small).upstream == "gpt"


def test_rules_without_a_model_match_read_no_body(gateway):
    with HttpClient(gateway.port) as client:
        response = client.request("/health", method="POST", body=b"not json at all", headers={})
    assert (response.status, response.upstream) == (200, "gpt")


def test_access_logs_reach_gitxds_with_the_model_label(gateway, control_plane):
    from harness import wait_for

    _post(gateway.port, {"model": "llama-3-405b"})

    def logged() -> list[Any]:
        return [
            r
            for r in control_plane.signals.snapshot_since(0)
            if r["node"] == gateway.node and r["backend"] == "llama" and r["model"] == "llama-*"
        ]

    assert wait_for(logged, timeout=10, message="the access log of a llama request")


def test_access_logs_carry_time_to_first_body_byte_for_rollouts(gateway, control_plane):
    from harness import stream_events, wait_for

    head, events, _ = stream_events(
        gateway.port,
        f"{CHAT}?first_event_delay=0.2",
        method="POST",
        body={"model": "mistral-large", "stream": True},
    )
    assert head.status == 200 and head.elapsed < 0.2 and events[0].at >= 0.2

    def slow_first_token() -> list[Any]:
        return [
            r
            for r in control_plane.signals.snapshot_since(0)
            if r["node"] == gateway.node and r["backend"] == "mistral" and (r["ttft_ms"] or 0) >= 200
        ]

    wait_for(slow_first_token, timeout=10, message="an access log with TTFT >= 200 ms")
    window = control_plane.signals.window(["mistral"], 0, 2**40)["mistral"]
    assert window.ttft_p95_ms is not None and window.ttft_p95_ms >= 200
