"""Token usage accounting: a real ``gitxds serve``, a real Envoy bootstrapped by ``gitxds bootstrap``,
two real OpenAI-style upstreams behind a 50/50 split, access logs streamed over gRPC (ALS).

The upstreams report known usage (``?usage=IN,OUT``), so gitxds's totals per backend, tier and key
must equal the sums of what they reported, exactly, and cost must equal tokens x price.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from ruamel.yaml import YAML

from gitxds.signals import key_hash
from harness import EnvoyProcess, HttpClient, UpstreamServer, free_port, stream_events, wait_for
from harness.configs import backend_doc, document, gateway_doc, route_doc, write_config
from harness.serve import ServeProcess, gitxds_command

CHAT = "/v1/chat/completions"
PRICES = {"gpt-a": (2.5, 10.0), "gpt-b": (1.0, 4.0)}
KEYS = ("sk-alpha-0001", "sk-bravo-0002", "sk-charlie-0003", "sk-delta-0004")
TIERS = ("free", "pro")
REQUESTS = 200


def _documents(port: int, cluster: str, ports: dict[str, int]) -> list[dict[str, Any]]:
    backends = [
        backend_doc(name, [ports[name]], api="openai", pricing={"inputPerMillion": i, "outputPerMillion": o})
        for name, (i, o) in PRICES.items()
    ]
    policy = {
        "key": {"header": "x-api-key"},
        "tier": {"header": "x-tier", "default": "free"},
        "limits": {"free": "100000/minute", "pro": "100000/minute"},
    }
    split = [{"name": "gpt-a", "weight": 50}, {"name": "gpt-b", "weight": 50}]
    return [
        gateway_doc("edge", port, cluster=cluster, rateLimit="tiered"),
        *backends,
        document("RateLimitPolicy", "tiered", policy),
        route_doc(
            "chat",
            [
                {"matches": [{"path": {"prefix": CHAT}, "model": {"exact": "gpt-4o"}}], "backends": split},
                {
                    "name": "any-model",
                    "matches": [{"path": {"prefix": CHAT}}],
                    "backends": [{"name": "gpt-a"}],
                },
            ],
        ),
    ]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    tmp = tmp_path_factory.mktemp("usage")
    upstreams = {name: UpstreamServer(name, sse_interval=0.01, sse_duration=0.03).start() for name in PRICES}
    port = free_port()
    cluster = f"edge-{port}"
    config = tmp / "config"
    write_config(config, _documents(port, cluster, {n: u.port for n, u in upstreams.items()}))
    serve = ServeProcess(config, tmp)
    envoy = EnvoyProcess(YAML(typ="safe").load(serve.bootstrap("envoy-usage", cluster)), tmp).start()
    envoy.wait_listening(port, timeout=10)
    stack = SimpleNamespace(port=port, serve=serve, envoy=envoy, tmp=tmp, config=config)
    yield stack
    envoy.stop()
    stack.serve.stop()  # the one running now (a test restarts gitxds)
    for upstream in upstreams.values():
        upstream.stop()


def _usage(serve: ServeProcess) -> dict[str, Any]:
    code, body = serve.get("/usage?window=3600&top=100")
    assert code == 200, body
    data: dict[str, Any] = json.loads(body)
    return data


def _send_mixed(port: int, count: int, rng: random.Random) -> list[dict[str, Any]]:
    """``count`` requests, JSON and SSE mixed; what each upstream reported for each request."""
    sent = []
    with HttpClient(port) as client:
        for index in range(count):
            key, tier = rng.choice(KEYS), rng.choice(TIERS)
            prompt, completion = rng.randint(1, 900), rng.randint(1, 900)
            path = f"{CHAT}?usage={prompt},{completion}"
            headers = {"x-api-key": key, "x-tier": tier}
            body = {"model": "gpt-4o", "stream": index % 2 == 1}
            if body["stream"]:
                head, events, ending = stream_events(port, path, method="POST", headers=headers, body=body)
                assert (head.status, ending) == (200, "complete")
                assert any('"usage"' in event.data for event in events)
                backend = head.upstream
            else:
                response = client.request(path, method="POST", headers=headers, body=body)
                assert response.status == 200, response.text
                backend = response.upstream
            sent.append({"key": key, "tier": tier, "backend": backend, "in": prompt, "out": completion})
    return sent


def _prometheus(envoy: EnvoyProcess, name: str, **labels: str) -> float:
    """Sum of Envoy's Prometheus samples of ``name`` whose labels include ``labels``."""
    status, body = envoy.admin_get("/stats/prometheus")
    assert status == 200, body
    total = 0.0
    for line in body.splitlines():
        sample, _, value = line.rpartition(" ")
        metric, _, label_text = sample.partition("{")
        if metric == name and all(f'{k}="{v}"' in label_text for k, v in labels.items()):
            total += float(value)
    return total


TOKENS = "envoy_gitxds_gen_ai_client_token_usage"


def test_totals_per_backend_tier_and_key_equal_what_the_upstreams_reported(stack):
    sent = _send_mixed(stack.port, REQUESTS, random.Random(17))
    assert set(Counter(s["backend"] for s in sent)) == set(PRICES)  # both arms of the split served
    wait_for(lambda: _usage(stack.serve)["received"] >= REQUESTS, timeout=15, message="all access logs")
    usage = _usage(stack.serve)

    def expected(field: str) -> dict[str, tuple[int, int]]:
        sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for s in sent:
            sums[s[field]][0] += s["in"]
            sums[s[field]][1] += s["out"]
        return {name: (i, o) for name, (i, o) in sums.items()}

    def measured(field: str) -> dict[str, tuple[int, int]]:
        sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for row in usage["totals"]:
            sums[row[field]][0] += row["input_tokens"]
            sums[row[field]][1] += row["output_tokens"]
        return {name: (i, o) for name, (i, o) in sums.items()}

    assert measured("backend") == expected("backend")
    assert measured("tier") == expected("tier")
    assert {row["model"] for row in usage["totals"] if row["rule"] == "chat/0"} == {"gpt-4o"}
    keys = {row["key"]: (row["input_tokens"], row["output_tokens"]) for row in usage["top_keys"]}
    assert keys == {key_hash(key): value for key, value in expected("key").items()}
    for row in usage["totals"]:
        price_in, price_out = PRICES[row["backend"]]
        cost = (row["input_tokens"] * price_in + row["output_tokens"] * price_out) / 1_000_000
        assert row["cost"] == pytest.approx(cost, abs=1e-6)
        assert row["unknown_usage"] == 0
    price = stack.serve.metric("gitxds_gen_ai_price_per_million", backend="gpt-b", token_type="output")
    assert price == PRICES["gpt-b"][1]


def test_a_stream_without_usage_counts_as_unknown_not_zero(stack):
    before = _usage(stack.serve)
    head, _, ending = stream_events(
        stack.port,
        CHAT,
        method="POST",
        headers={"x-api-key": "sk-no-usage"},
        body={"model": "gpt-4o", "stream": True},
    )
    assert (head.status, ending) == (200, "complete")
    wait_for(
        lambda: _usage(stack.serve)["received"] > before["received"], timeout=10, message="the access log"
    )
    row = next(k for k in _usage(stack.serve)["top_keys"] if k["key"] == key_hash("sk-no-usage"))
    assert (row["requests"], row["unknown_usage"], row["total_tokens"]) == (1, 1, 0)


def test_gitxds_usage_prints_hashed_keys_never_whole_ones(stack):
    before = _usage(stack.serve)["received"]
    sent = _send_mixed(stack.port, 8, random.Random(5))
    wait_for(lambda: _usage(stack.serve)["received"] >= before + len(sent), timeout=10, message="the logs")
    text = gitxds_command("usage", "--admin", f"http://127.0.0.1:{stack.serve.admin_port}")
    assert all(key_hash(s["key"]) in text and s["backend"] in text for s in sent)
    assert not any(key in text for key in KEYS)


def test_unknown_tiers_fold_into_other(stack):
    before = _usage(stack.serve)["received"]
    with HttpClient(stack.port) as client:
        for index in range(5):
            headers = {"x-api-key": "sk-tier-probe", "x-tier": f"invented-{index}"}
            client.request(f"{CHAT}?usage=1,1", method="POST", headers=headers, body={"model": "gpt-4o"})
    wait_for(lambda: _usage(stack.serve)["received"] >= before + 5, timeout=10, message="the access logs")
    tiers = {row["tier"] for row in _usage(stack.serve)["totals"]}
    assert tiers <= {"free", "pro", "other"} and "other" in tiers
    assert "sk-" not in stack.serve.log_tail(200)


def test_envoy_token_counters_lose_nothing_across_a_gitxds_restart(stack):
    before = {t: _prometheus(stack.envoy, TOKENS, gen_ai_token_type=t) for t in ("input", "output")}
    first = _send_mixed(stack.port, 20, random.Random(1))
    stack.serve.stop()  # a new gitxds on the same xDS port: Envoy reconnects by itself
    stack.serve = ServeProcess(stack.config, stack.tmp, xds_port=stack.serve.xds_port)
    second = _send_mixed(stack.port, 20, random.Random(2))  # Envoy serves on while gitxds is back
    expected = {
        "input": before["input"] + sum(s["in"] for s in first + second),
        "output": before["output"] + sum(s["out"] for s in first + second),
    }

    def counted() -> dict[str, float]:
        return {t: _prometheus(stack.envoy, TOKENS, gen_ai_token_type=t) for t in ("input", "output")}

    wait_for(lambda: counted() == expected, timeout=10, message=f"Envoy's token counters reach {expected}")
    per_backend = _prometheus(stack.envoy, TOKENS, gitxds_backend="gpt-b", gen_ai_request_model="gpt-4o")
    assert per_backend > 0


def test_time_to_first_token_is_the_first_body_byte_not_the_headers(stack):
    name = "envoy_gitxds_gen_ai_server_time_to_first_token_bucket"

    def slower_than_250ms() -> float:
        everything = _prometheus(stack.envoy, name, gitxds_backend="gpt-a", le="+Inf")
        return everything - _prometheus(stack.envoy, name, gitxds_backend="gpt-a", le="250")

    before = slower_than_250ms()
    head, events, ending = stream_events(
        stack.port,
        f"{CHAT}?first_event_delay=0.3&usage=1,1",
        method="POST",
        headers={"x-api-key": "sk-ttft"},
        body={"model": "ttft-probe", "stream": True},  # the any-model rule: gpt-a
    )
    assert (head.status, ending) == (200, "complete"), head.body
    assert head.elapsed < 0.2, "response headers came at once"
    assert events[0].at >= 0.3
    # Envoy publishes histograms on its stats flush (every 5 s by default).
    wait_for(lambda: slower_than_250ms() >= before + 1, timeout=20, message="a TTFT sample above 250 ms")


def test_invented_models_and_tiers_leave_the_number_of_stats_unchanged(stack):
    def stat_count() -> int:
        status, body = stack.envoy.admin_get("/stats/prometheus")
        assert status == 200
        return sum(1 for line in body.splitlines() if line and not line.startswith("#"))

    def invented(count: int, offset: int) -> None:
        with HttpClient(stack.port) as client:
            for index in range(offset, offset + count):
                headers = {"x-api-key": f"sk-{index}", "x-tier": f"tier-{index}"}
                body = {"model": f"model-{index}"}
                assert (
                    client.request(f"{CHAT}?usage=1,1", method="POST", headers=headers, body=body).status
                    == 200
                )

    def gitxds_series() -> set[str]:
        def synced() -> bool:
            proxies = stack.serve.status()["proxies"]
            return bool(proxies) and all(p["in_sync"] for p in proxies)

        wait_for(synced, timeout=30, message="Envoy connected and in sync")
        return set(stack.serve.metrics())

    invented(20, 0)  # the "other" model and tier exist from here on
    wait_for(lambda: _usage(stack.serve)["received"] > 0, timeout=10)
    envoy_stats, usage_rows, series = stat_count(), len(_usage(stack.serve)["totals"]), gitxds_series()
    received = _usage(stack.serve)["received"]
    invented(INVENTED, 20)
    wait_for(lambda: _usage(stack.serve)["received"] >= received + INVENTED, timeout=30, message="the logs")
    assert stat_count() == envoy_stats
    rows = _usage(stack.serve)["totals"]
    # Rows are per gateway/rule/backend/model/tier: the invented values all land in one "other" row.
    assert not any(r["model"].startswith("model-") or r["tier"].startswith("tier-") for r in rows)
    assert sum(1 for r in rows if r["rule"] == "chat/any-model" and r["tier"] == "other") == 1
    assert len(rows) <= usage_rows + 1  # at most a late row of an earlier test's requests
    after = gitxds_series()
    assert len(after) == len(series), sorted(after ^ series)
    assert not any("model-" in name or "tier-" in name for name in after)


INVENTED = 10_000


@pytest.mark.parametrize("query", ["window=5", "window=99999", "top=0", "top=5000", "window=abc"])
def test_usage_queries_outside_their_limits_are_refused(stack, query):
    code, body = stack.serve.get(f"/usage?{query}")
    assert code == 400 and "window" in json.loads(body)["error"]
