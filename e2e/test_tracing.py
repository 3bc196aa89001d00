"""Gateway tracing: a real Envoy exports OpenTelemetry spans over OTLP/gRPC to a real receiver.

One Envoy at 10% head sampling serves every test of the module: requests that carry a sampled
``traceparent`` are always traced (so attribute checks see every request), the rest are sampled.
"""

from __future__ import annotations

import secrets
from collections import Counter
from types import SimpleNamespace

import pytest

from harness import HttpClient, free_port, send_many, wait_for
from harness.configs import backend_doc, document, gateway_doc, route_doc
from harness.grpc_services import ReceivedSpan, TraceCollector

SAMPLED_REQUESTS = 1000


def _rule(path: str, backends: list[dict[str, object]], **policy: object) -> dict[str, object]:
    return {"matches": [{"path": {"prefix": path}}], "backends": backends, **policy}


def _documents(collector_port: int, listen_port: int, up: dict[str, int]) -> list[dict[str, object]]:
    tracing = {"collector": "otel", "samplingPercent": 10, "serviceName": "edge-gateway"}
    limits = {"key": {"header": "x-api-key"}, "tier": {"header": "x-tier", "default": "free"}}
    return [
        gateway_doc("edge", listen_port, tracing=tracing),
        backend_doc("otel", [collector_port], protocol="GRPC", connectTimeout="250ms"),
        backend_doc("stable", [up["stable"]]),
        backend_doc("canary", [up["canary"]]),
        backend_doc("flaky", [up["flaky"]]),
        backend_doc("down", [free_port()]),
        backend_doc("spare", [up["spare"]]),
        document(
            "RateLimitPolicy",
            "tiered",
            {**limits, "limits": {"free": "1000/second", "pro": "1000/second"}},
        ),
        route_doc(
            "chat",
            [
                _rule("/split", [{"name": "stable", "weight": 50}, {"name": "canary", "weight": 50}]),
                _rule("/retry", [{"name": "flaky"}], retries={"attempts": 2, "on": ["5xx"]}),
                _rule("/fallback", [{"name": "down"}], fallback=["spare"]),
                _rule("/tiered", [{"name": "stable"}], rateLimit="tiered"),
                {
                    "matches": [{"path": {"prefix": "/v1/chat"}, "model": {"exact": "chat-large"}}],
                    "backends": [{"name": "canary"}],
                },
            ],
        ),
    ]


@pytest.fixture(scope="module")
def traced(module_upstreams, module_gateway_factory):
    collector = TraceCollector().start()
    up = {name: module_upstreams(name).port for name in ("stable", "canary", "spare")}
    flaky = module_upstreams("flaky")
    flaky.configure(fail_status=503, fail_mode="alternate")
    up["flaky"] = flaky.port
    # Envoy exports spans in batches of 5 or every 5 s, so waits below allow 10 s.
    gateway = module_gateway_factory(_documents(collector.port, free_port(), up))
    yield SimpleNamespace(gateway=gateway, collector=collector, flaky=flaky)
    collector.stop()


def _traceparent() -> tuple[str, str]:
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-01"


def _spans_of(collector: TraceCollector, trace_ids: set[str]) -> list[ReceivedSpan]:
    return [span for span in collector.spans if span.trace_id in trace_ids]


def _send_traced(traced, path: str, count: int, headers: dict[str, str] | None = None, **request):
    """``count`` requests with sampled traceparents: [(trace id, response)]."""
    sent = []
    with HttpClient(traced.gateway.port) as client:
        for _ in range(count):
            trace_id, parent = _traceparent()
            all_headers = {"traceparent": parent, **(headers or {})}
            sent.append((trace_id, client.request(path, headers=all_headers, **request)))
    return sent


def _spans_for(traced, *batches) -> list[list[ReceivedSpan]]:
    """The spans of each batch of ``_send_traced``, once all have arrived."""
    ids = {trace_id for batch in batches for trace_id, _ in batch}
    wait_for(
        lambda: ids <= {span.trace_id for span in traced.collector.spans},
        timeout=10,
        message=f"spans of {len(ids)} traced requests",
    )
    return [_spans_of(traced.collector, {trace_id for trace_id, _ in batch}) for batch in batches]


def test_a_sampled_traceparent_is_always_traced_and_reaches_the_upstream(traced) -> None:
    sent = _send_traced(traced, "/split", 40)
    [spans] = _spans_for(traced, sent)
    assert len(spans) == 40, "one span per request"
    by_trace = {span.trace_id: span for span in spans}
    for trace_id, response in sent:
        assert response.status == 200
        upstream_parent = response.json()["headers"]["traceparent"]
        assert upstream_parent.split("-")[1] == trace_id, "the upstream sees the request's trace id"
        span = by_trace[trace_id]
        assert upstream_parent.split("-")[2] == span.span_id, "and the gateway span as its parent"
        assert span.service == "edge-gateway"
        assert span.attributes["gitxds.gateway"] == "edge"
        assert span.attributes["gitxds.route.rule"] == "chat/0"
        assert span.attributes["gitxds.backend"] == response.headers["x-gitxds-backend"]
        assert span.attributes["gitxds.upstream.attempts"] == "1"
    arms = Counter(span.attributes["gitxds.backend"] for span in spans)
    assert set(arms) == {"stable", "canary"}, "each canary arm shows in the spans"


def test_spans_name_the_retry_and_fallback_outcome_the_key_tier_and_the_model(traced) -> None:
    retry = _send_traced(traced, "/retry", 4)
    fallback = _send_traced(traced, "/fallback", 3)
    pro = _send_traced(traced, "/tiered", 2, {"x-api-key": "k1", "x-tier": "pro"})
    default = _send_traced(traced, "/tiered", 2, {"x-api-key": "k2"})
    model = _send_traced(traced, "/v1/chat", 2, method="POST", body={"model": "chat-large"})
    assert [r.status for _, r in retry + fallback + pro + default + model] == [200] * 13
    retried, fell_back, pro_spans, default_spans, model_spans = _spans_for(
        traced, retry, fallback, pro, default, model
    )
    assert len(retried + fell_back + pro_spans + default_spans + model_spans) == 13
    assert {s.attributes["gitxds.upstream.attempts"] for s in retried} == {"2"}, "every other answer fails"
    assert {s.attributes["gitxds.backend"] for s in retried} == {"flaky"}
    for span in fell_back:
        assert span.attributes["gitxds.backend"] == "spare"
        assert span.attributes["gitxds.route.fallback"] == "spare"
        assert span.attributes["gitxds.route.rule"] == "chat/2"
    assert {s.attributes["gitxds.api_key.tier"] for s in pro_spans} == {"pro"}
    assert {s.attributes["gitxds.api_key.tier"] for s in default_spans} == {"free"}
    assert "gitxds.api_key.tier" not in retried[0].attributes, "only rules with a rate limit have tiers"
    assert {s.attributes["gen_ai.request.model"] for s in model_spans} == {"chat-large"}
    assert {s.attributes["gitxds.backend"] for s in model_spans} == {"canary"}
    assert "gen_ai.request.model" not in retried[0].attributes, "only rules that route on model read it"


def test_head_sampling_keeps_about_ten_percent(traced) -> None:
    before = {span.trace_id for span in traced.collector.spans}
    responses = send_many(traced.gateway.port, SAMPLED_REQUESTS, "/split")
    assert [r.status for r in responses] == [200] * SAMPLED_REQUESTS
    # Each sampled request's upstream saw a sampled traceparent; its span must arrive.
    sampled_ids = {
        r.json()["headers"]["traceparent"].split("-")[1]
        for r in responses
        if r.json()["headers"]["traceparent"].endswith("-01")
    }
    wait_for(
        lambda: sampled_ids <= {span.trace_id for span in traced.collector.spans},
        timeout=10,
        message="the spans of every sampled request",
    )
    new = {span.trace_id for span in traced.collector.spans} - before
    assert new == sampled_ids, "exactly the requests sent upstream as sampled were exported"
    assert 70 <= len(new) <= 130, f"{len(new)} of {SAMPLED_REQUESTS} requests traced at 10%"


def test_a_collector_that_is_down_fails_no_request(upstreams, gateway_factory) -> None:
    answer = upstreams("answer")
    documents = [
        gateway_doc("edge", free_port(), tracing={"collector": "otel", "samplingPercent": 100}),
        backend_doc("otel", [free_port()], protocol="GRPC", connectTimeout="250ms"),
        backend_doc("answer", [answer.port]),
        route_doc("all", [{"backends": [{"name": "answer"}]}]),
    ]
    gateway = gateway_factory(documents)
    responses = send_many(gateway.port, 200, "/")
    assert [r.status for r in responses] == [200] * 200
    # The spans were made and their export failed: Envoy counts both, the requests never saw it.
    wait_for(
        lambda: gateway.envoy.stat("cluster.otel.upstream_cx_connect_fail") > 0,
        timeout=10,
        message="Envoy tried the collector",
    )
