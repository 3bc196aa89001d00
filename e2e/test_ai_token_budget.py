"""Token budgets: a real Envoy charges each response's total tokens to the key's budget in a real gRPC
rate limit service (``hits_addend`` at stream end), configured by ``gitxds export ratelimit``.

Free tier: 2000 tokens a minute, answers of 300 tokens: requests 1-7 pass (the 7th takes the key to
2100), request 8 gets 429 with the same rate-limit headers as request limits; a pro key is unaffected.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness import HttpClient, free_port, stream_events
from harness.configs import backend_doc, document, gateway_doc, route_doc, write_config
from harness.grpc_services import RateLimitService
from harness.serve import gitxds_command
from waiting import wait_for

CHAT = "/v1/chat/completions"
ANSWER = "usage=100,200"  # 300 tokens per answer


def _documents(port: int, api_port: int, ratelimit_port: int) -> list[dict[str, Any]]:
    policy = {
        "mode": "global",
        "key": {"header": "x-api-key"},
        "tier": {"header": "x-tier", "default": "free"},
        "limits": {"free": "1000/minute", "pro": "1000/minute"},
        "tokens": {"free": "2000/minute", "pro": "200000/minute"},
        "service": {"backend": "ratelimit", "domain": "budgets"},
    }
    return [
        gateway_doc("edge", port, rateLimit="budgets"),
        backend_doc("gpt", [api_port], api="openai"),
        backend_doc("ratelimit", [ratelimit_port], protocol="GRPC"),
        document("RateLimitPolicy", "budgets", policy),
        route_doc("chat", [{"matches": [{"path": {"prefix": CHAT}}], "backends": [{"name": "gpt"}]}]),
    ]


@pytest.fixture(scope="module")
def budget(module_upstreams, module_gateway_factory, tmp_path_factory: pytest.TempPathFactory):
    api = module_upstreams("gpt", sse_interval=0.01, sse_duration=0.02)
    service = RateLimitService().start()
    documents = _documents(free_port(), api.port, service.port)
    config_dir = tmp_path_factory.mktemp("budget-config")
    write_config(config_dir, documents)
    exported = tmp_path_factory.mktemp("budget-service")
    gitxds_command("export", "ratelimit", str(config_dir), "--output-dir", str(exported))
    service.load(sorted(exported.glob("*.yaml")))
    gateway = module_gateway_factory(documents)
    yield SimpleNamespace(port=gateway.port, service=service, exported=exported)
    service.stop()


def _ask(client: HttpClient, key: str, tier: str) -> Any:
    headers = {"x-api-key": key, "x-tier": tier}
    return client.request(f"{CHAT}?{ANSWER}", method="POST", headers=headers, body={"model": "gpt-4o"})


def test_the_exported_service_config_holds_the_budgets(budget):
    text = (Path(budget.exported) / "budgets.yaml").read_text()
    assert "value: tokens" in text
    assert "requests_per_unit: 2000\n" in text and "requests_per_unit: 200000\n" in text


def test_a_free_key_is_refused_from_the_request_after_its_budget_is_spent(budget):
    with HttpClient(budget.port) as client:
        for answered in range(1, 8):
            assert _ask(client, "sk-free-1", "free").status == 200
            # The charge is sent when the response ends: wait for it before the next request.
            wait_for(
                lambda n=answered: budget.service.charged("sk-free-1", "tokens") >= 300 * n,
                timeout=10,
                message=f"the tokens of answer {answered} charged",
            )
        refused = _ask(client, "sk-free-1", "free")
        assert refused.status == 429
        assert refused.headers["x-ratelimit-limit"].startswith("2000")
        assert refused.headers["x-ratelimit-remaining"] == "0"
        # Another key of the same tier, and a pro key, have budgets of their own.
        assert _ask(client, "sk-free-2", "free").status == 200
        assert [_ask(client, "sk-pro-1", "pro").status for _ in range(10)] == [200] * 10


def test_streamed_answers_are_charged_from_their_final_usage_event(budget):
    headers = {"x-api-key": "sk-stream", "x-tier": "free"}
    body = {"model": "gpt-4o", "stream": True}
    for answered in range(1, 8):
        head, events, ending = stream_events(
            budget.port, f"{CHAT}?{ANSWER}", method="POST", headers=headers, body=body
        )
        assert (head.status, ending) == (200, "complete")
        assert '"usage"' in events[-2].data
        # Envoy charges the tokens after the client has the whole stream: wait for the charge to land.
        wait_for(
            lambda n=answered: budget.service.charged("sk-stream", "tokens") >= 300 * n,
            timeout=10,
            message=f"the tokens of streamed answer {answered} charged",
        )
    head, _, _ = stream_events(budget.port, f"{CHAT}?{ANSWER}", method="POST", headers=headers, body=body)
    assert head.status == 429


def test_an_answer_without_usage_charges_nothing(budget):
    with HttpClient(budget.port) as client:
        headers = {"x-api-key": "sk-no-usage", "x-tier": "free"}
        statuses = [
            client.request(CHAT, method="POST", headers=headers, body={"model": "gpt-4o"}).status
            for _ in range(12)
        ]
    assert statuses == [200] * 12
