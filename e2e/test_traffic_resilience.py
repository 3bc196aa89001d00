"""Retries, timeouts, streaming and circuit breakers, observed by the client and counted upstream."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from harness import Response, StreamEvent, free_port, get, stream_events, wait_for
from harness.configs import backend_doc, gateway_doc, route_doc
from harness.upstream import DROP

UPSTREAMS = (
    "flaky",
    "hangs-up",
    "always-failing",
    "connect-only",
    "slow-first",
    "slow",
    "streamer",
    "guarded-requests",
    "guarded-pending",
)


def _rule(path: str, backend: str, **policy: object) -> dict[str, object]:
    return {"matches": [{"path": {"prefix": path}}], "backends": [{"name": backend}], **policy}


@pytest.fixture(scope="module")
def resilience(module_upstreams, module_gateway_factory):
    upstreams = {name: module_upstreams(name) for name in UPSTREAMS}
    backend_specs = {
        "guarded-requests": {"circuitBreaker": {"maxRequests": 2}},
        "guarded-pending": {"circuitBreaker": {"maxConnections": 1, "maxPendingRequests": 1}},
    }
    documents = [
        gateway_doc("edge", free_port()),
        *(backend_doc(name, [u.port], **backend_specs.get(name, {})) for name, u in upstreams.items()),
        route_doc(
            "resilience",
            [
                _rule("/retry", "flaky", retries={"attempts": 2, "on": ["5xx"]}),
                _rule("/bounded", "always-failing", retries={"attempts": 2, "on": ["5xx"]}),
                _rule("/reset", "hangs-up", retries={"attempts": 1, "on": ["reset"]}),
                _rule("/connect-only", "connect-only", retries={"attempts": 2, "on": ["connect-failure"]}),
                _rule(
                    "/per-try",
                    "slow-first",
                    timeout="3s",
                    retries={"attempts": 1, "on": ["5xx"], "perTryTimeout": "200ms"},
                ),
                _rule("/slow", "slow", timeout="300ms"),
                _rule("/stream", "streamer", streaming={"idleTimeout": "1s"}),
                _rule("/timed", "streamer", timeout="2s"),
                _rule("/guarded-requests", "guarded-requests"),
                _rule("/guarded-pending", "guarded-pending"),
            ],
        ),
    ]
    gateway = module_gateway_factory(documents)
    return SimpleNamespace(port=gateway.port, envoy=gateway.envoy, upstreams=upstreams)


@pytest.fixture(scope="module", autouse=True)
def background_streams(resilience):
    """A 10 s SSE stream (an event every 0.5 s) on the streaming rule and the same stream on a rule
    with `timeout: 2s`, started with the module so they run while the other tests do. Daemon threads:
    a worker that does not check them just lets Envoy's shutdown end them."""
    streams = []
    for path in ("/stream/sse?interval=0.5&duration=10", "/timed/sse?interval=0.5&duration=10"):
        future: Future[tuple[Response, list[StreamEvent], str]] = Future()
        threading.Thread(
            target=_run_into, args=(future, stream_events, resilience.port, path), daemon=True
        ).start()
        streams.append(future)
    return streams


def _run_into(future: Future, function, *args) -> None:
    try:
        future.set_result(function(*args, time_limit=20))
    except BaseException as error:
        future.set_exception(error)


# -- retries ---------------------------------------------------------------------------------------


def test_a_failed_first_attempt_is_retried_and_the_client_sees_success(resilience):
    flaky = resilience.upstreams["flaky"]
    flaky.configure(fail_status=503, fail_mode="first", fail_count=1)
    response = get(resilience.port, "/retry")
    assert (response.status, response.upstream) == (200, "flaky")
    assert flaky.hits == 2


def test_attempts_are_bounded(resilience):
    failing = resilience.upstreams["always-failing"]
    failing.configure(fail_status=503)
    assert get(resilience.port, "/bounded").status == 503
    assert failing.hits == 3  # the first try and `attempts: 2` retries, no more


def test_a_reset_is_retried_when_reset_is_listed(resilience):
    upstream = resilience.upstreams["hangs-up"]
    upstream.configure(fail_status=DROP, fail_mode="first", fail_count=1)
    response = get(resilience.port, "/reset")
    assert (response.status, response.upstream) == (200, "hangs-up")
    assert upstream.hits == 2


def test_only_the_listed_retry_conditions_retry(resilience):
    upstream = resilience.upstreams["connect-only"]
    upstream.configure(fail_status=503)
    assert get(resilience.port, "/connect-only").status == 503
    assert upstream.hits == 1  # a 503 is not a connect failure
    upstream.configure(fail_status=DROP)
    assert get(resilience.port, "/connect-only").status == 503
    assert upstream.hits == 2  # nor is a reset after connecting


def test_per_try_timeout_retries_a_slow_attempt(resilience):
    upstream = resilience.upstreams["slow-first"]
    upstream.configure(delay=1.5, delay_count=1)
    response = get(resilience.port, "/per-try")
    assert (response.status, response.upstream) == (200, "slow-first")
    assert 0.2 <= response.elapsed < 1.0
    assert upstream.hits == 2


# -- timeouts and streaming ------------------------------------------------------------------------


def test_route_timeout_answers_504(resilience):
    response = get(resilience.port, "/slow?delay=1.5")
    assert response.status == 504
    assert 0.25 <= response.elapsed < 1.4  # the upstream would answer only after 1.5 s


def test_streaming_route_keeps_a_long_stream_and_a_timed_route_cuts_it(background_streams):
    long_stream, timed = background_streams
    head, events, ending = long_stream.result(timeout=20)
    timed_head, timed_events, timed_ending = timed.result(timeout=20)
    assert head.status == 200 and head.upstream == "streamer"
    assert ending == "complete"
    assert len(events) >= 18 and events[-1].at >= 9.0
    # The same stream on a rule with `timeout: 2s` is cut after two seconds.
    assert timed_head.status == 200
    assert timed_ending == "reset"
    assert timed_events and timed_events[-1].at < 4.0
    assert len(timed_events) <= 6  # events at 0, 0.5 ... 2.0 s at most


def test_streaming_idle_timeout_ends_a_silent_stream(resilience):
    started = time.monotonic()
    head, events, ending = stream_events(
        resilience.port, "/stream/sse?interval=0.2&duration=8&silent_after=3", read_timeout=6
    )
    assert head.status == 200
    assert len(events) == 3
    assert ending == "reset"
    # ~0.6 s of events, then the 1 s idle timeout; the upstream alone would hold it open for 8 s.
    assert 1.4 <= time.monotonic() - started < 4.5


def test_openai_style_stream_through_the_streaming_route(resilience):
    head, events, ending = stream_events(
        resilience.port,
        "/stream/v1/chat/completions?interval=0.05&duration=0.5",
        method="POST",
        body={"model": "chat", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert (head.status, head.headers["content-type"], ending) == (200, "text/event-stream", "complete")
    assert events[-1].data == "[DONE]"
    chunks = [json.loads(event.data) for event in events[:-1]]
    assert len(chunks) >= 5
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}


# -- circuit breakers ------------------------------------------------------------------------------


def _overloaded(response) -> bool:
    return response.status == 503 and response.headers.get("x-envoy-overloaded") == "true"


def test_max_requests_breaker_rejects_only_requests_over_the_limit(resilience):
    upstream = resilience.upstreams["guarded-requests"]
    upstream.configure(hold=True)
    with ThreadPoolExecutor(2) as pool:
        held = [pool.submit(get, resilience.port, "/guarded-requests") for _ in range(2)]
        wait_for(lambda: upstream.hits == 2, 3, message="two requests held upstream")
        over = get(resilience.port, "/guarded-requests")
        upstream.release()
        assert [f.result(timeout=5).status for f in held] == [200, 200]
    assert _overloaded(over), (over.status, over.headers)
    assert upstream.hits == 2  # the rejected request never reached the upstream
    assert get(resilience.port, "/guarded-requests").status == 200


def test_pending_breaker_queues_one_and_rejects_the_next(resilience):
    upstream = resilience.upstreams["guarded-pending"]
    upstream.configure(hold=True)
    with ThreadPoolExecutor(2) as pool:
        active = pool.submit(get, resilience.port, "/guarded-pending")
        wait_for(lambda: upstream.hits == 1, 3, message="one request held upstream")
        pending = pool.submit(get, resilience.port, "/guarded-pending")
        wait_for(
            lambda: resilience.envoy.stat("cluster.guarded-pending.upstream_rq_pending_active") == 1,
            3,
            message="one request queued in Envoy",
        )
        over = get(resilience.port, "/guarded-pending")
        upstream.release()
        assert active.result(timeout=5).status == 200
        assert pending.result(timeout=5).status == 200
    assert _overloaded(over), (over.status, over.headers)
    assert resilience.envoy.stat("cluster.guarded-pending.upstream_rq_pending_overflow") == 1
    assert upstream.hits == 2
