"""Weighted traffic split between model versions, measured over real requests through Envoy."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from harness import free_port, tally
from harness.configs import backend_doc, document, gateway_doc, route_doc

SPLIT_REQUESTS = 2000
TOLERANCE_POINTS = 3.0


def _split_rule(path: str, weights: dict[str, int]) -> dict[str, object]:
    return {
        "matches": [{"path": {"prefix": path}}],
        "backends": [{"name": name, "weight": weight} for name, weight in weights.items()],
    }


@pytest.fixture(scope="module")
def split(module_upstreams, module_gateway_factory):
    v1, v2, blue, green, heavy, light = (
        module_upstreams(n) for n in ("chat-v1", "chat-v2", "blue", "green", "heavy", "light")
    )
    documents = [
        gateway_doc("edge", free_port()),
        *(backend_doc(u.name, [u.port]) for u in (v1, v2, blue, green)),
        document(
            "Backend",
            "weighted-endpoints",
            {
                "endpoints": [
                    {"address": "127.0.0.1", "port": heavy.port, "weight": 3},
                    {"address": "127.0.0.1", "port": light.port, "weight": 1},
                ]
            },
        ),
        route_doc(
            "chat",
            [
                _split_rule("/v1/chat", {"chat-v1": 90, "chat-v2": 10}),
                _split_rule("/zero", {"blue": 0, "green": 100}),
                _split_rule("/endpoints", {"weighted-endpoints": 1}),
            ],
        ),
    ]
    gateway = module_gateway_factory(documents)
    return SimpleNamespace(gateway=gateway, v1=v1, v2=v2, blue=blue, green=green)


def test_ninety_ten_split_lands_within_three_points(split):
    counts = tally(split.gateway.port, SPLIT_REQUESTS, "/v1/chat/completions")
    measured = 100.0 * counts["chat-v1"] / SPLIT_REQUESTS
    print(f"90/10 split over {SPLIT_REQUESTS} requests: chat-v1 {measured:.1f}% ({dict(counts)})")
    assert counts["chat-v1"] + counts["chat-v2"] == SPLIT_REQUESTS
    assert abs(measured - 90.0) <= TOLERANCE_POINTS
    assert split.v1.hits + split.v2.hits == SPLIT_REQUESTS


def test_zero_weight_backend_gets_nothing(split):
    counts = tally(split.gateway.port, 300, "/zero")
    assert counts == {"green": 300}
    assert split.blue.hits == 0


def test_endpoint_weights_split_traffic_inside_one_backend(split):
    counts = tally(split.gateway.port, 400, "/endpoints")
    share = 100.0 * counts["heavy"] / 400
    print(f"endpoint weights 3:1 over 400 requests: heavy {share:.1f}% ({dict(counts)})")
    assert counts["heavy"] + counts["light"] == 400
    assert abs(share - 75.0) <= 5.0


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
def test_changing_weights_moves_traffic_without_restarting_envoy(upstreams, gateway_factory, delta):
    v1, v2 = upstreams("chat-v1"), upstreams("chat-v2")
    listener = free_port()

    def documents(weights: dict[str, int]) -> list[dict[str, object]]:
        return [
            gateway_doc("edge", listener),
            backend_doc("chat-v1", [v1.port]),
            backend_doc("chat-v2", [v2.port]),
            route_doc("chat", [_split_rule("/v1/chat", weights)]),
        ]

    gateway = gateway_factory(documents({"chat-v1": 90, "chat-v2": 10}), delta=delta)
    pid = gateway.envoy.pid
    before = tally(gateway.port, 500, "/v1/chat")
    assert abs(100.0 * before["chat-v1"] / 500 - 90.0) <= 5.0

    gateway.apply(documents({"chat-v1": 10, "chat-v2": 90}))
    after = tally(gateway.port, 500, "/v1/chat")
    print(f"weights 90/10: {dict(before)}; after the change to 10/90: {dict(after)}")
    assert abs(100.0 * after["chat-v2"] / 500 - 90.0) <= 5.0

    gateway.apply(documents({"chat-v1": 0, "chat-v2": 100}))
    v1_hits = v1.hits
    assert tally(gateway.port, 200, "/v1/chat") == {"chat-v2": 200}
    assert v1.hits == v1_hits
    assert gateway.envoy.pid == pid and gateway.envoy.running, "the same Envoy process throughout"
