"""The driving replica's peer client: summaries from real HTTP peers (gitxds's own admin app and
misbehaving servers), and the limits that keep a slow, huge, lying or unknown peer from stalling or
skewing a judgement. Each limit test finishes in about a second."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from gitxds.gitops.admin import build_app
from gitxds.signals import AccessRecord, SignalStore
from gitxds.signals.peers import PeerLimits, PeerSignals, parse_peer_dns, parse_peer_url

NOW = 1_800_000_000.0
TOKEN = "shared-admin-token"
RECORD = AccessRecord(
    gateway="edge", route_rule="chat/0", backend="chat-v2", status=200, response_flags=frozenset(),
    duration_ms=20.0, ttft_ms=None, input_tokens=None, output_tokens=None, model="other", tier="other",
    key_hash="", timestamp=NOW,
)  # fmt: skip
LIMITS = PeerLimits(timeout_seconds=0.5, max_peers=3, max_response_bytes=64 * 1024)


def store_with(ok: int, failed: int, duration_ms: float = 20.0) -> SignalStore:
    store = SignalStore(clock=lambda: NOW + 1)
    for index in range(ok + failed):
        store.record(replace(RECORD, status=500 if index < failed else 200, duration_ms=duration_ms))
    return store


class ServiceLoop:
    """An event loop in a thread, like ``gitxds serve``'s; peers listen on it and fetches run on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._runners: list[web.AppRunner] = []

    def run(self, coroutine: Awaitable[Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)  # type: ignore[arg-type]

    def serve(self, app: web.Application) -> str:
        async def start() -> int:
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self._runners.append(runner)
            return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

        return f"http://127.0.0.1:{self.run(start())}"

    def gitxds_peer(self, name: str, store: SignalStore, token: str = TOKEN) -> str:
        """A peer answering with gitxds's own admin app (token-protected) from ``store``."""
        answering = PeerSignals(store, replica=name)

        class Backend:
            registry = CollectorRegistry()

            def signal_windows(self, backends: tuple[str, ...], start: float, end: float) -> dict[str, Any]:
                return answering.answer(backends, start, end)

        return self.serve(build_app(Backend(), token=token))  # type: ignore[arg-type]

    def raw_peer(self, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> str:
        app = web.Application()
        app.router.add_get("/signals/windows", handler)
        return self.serve(app)

    def close(self) -> None:
        for runner in self._runners:
            self.run(runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


@pytest.fixture
def service() -> Iterator[ServiceLoop]:
    running = ServiceLoop()
    yield running
    running.close()


def driver(service: ServiceLoop, local: SignalStore, *peers: str, **kwargs: Any) -> PeerSignals:
    signals = PeerSignals(local, replica="replica-a", peers=peers, token=TOKEN, limits=LIMITS, **kwargs)
    signals.bind(service.loop)
    return signals


def test_windows_add_every_peers_traffic_and_percentiles_are_of_the_union(service: ServiceLoop) -> None:
    b = service.gitxds_peer("replica-b", store_with(ok=8, failed=2, duration_ms=3000.0))
    c = service.gitxds_peer("replica-c", store_with(ok=90, failed=0))
    windows = driver(service, store_with(ok=0, failed=0), b, c).window(["chat-v2"], NOW, NOW + 1)
    assert windows.unanswered == ()
    v2 = windows["chat-v2"]
    assert (v2.requests, v2.failures) == (100, 2)
    assert v2.latency_p99_ms is not None and 3000 <= v2.latency_p99_ms <= 3030  # B's slow tail


def test_a_replica_reached_twice_or_itself_counts_once_or_not_at_all(service: ServiceLoop) -> None:
    b = service.gitxds_peer("replica-b", store_with(ok=10, failed=0))
    b_again = service.gitxds_peer("replica-b", store_with(ok=10, failed=0))
    itself = service.gitxds_peer("replica-a", store_with(ok=10, failed=0))  # a headless Service lists it
    windows = driver(service, store_with(ok=5, failed=0), b, b_again, itself).window(
        ["chat-v2"], NOW, NOW + 1
    )
    assert windows["chat-v2"].requests == 15 and windows.unanswered == ()


def test_a_slow_peer_costs_one_timeout_and_is_named(service: ServiceLoop) -> None:
    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.json_response({})

    b = service.gitxds_peer("replica-b", store_with(ok=10, failed=0))
    slow_url = service.raw_peer(slow)
    registry = CollectorRegistry()
    started = time.monotonic()
    signals = driver(service, store_with(ok=5, failed=0), b, slow_url, registry=registry)
    windows = signals.window(["chat-v2"], NOW, NOW + 1)
    took = time.monotonic() - started
    assert took < 5, took  # the peer would take 30s: the deadline (0.5s) ended the wait
    assert windows["chat-v2"].requests == 15  # the peer that answered still counts
    assert windows.unanswered == (f"{slow_url}: no answer in time",)
    assert registry.get_sample_value("gitxds_rollout_peer_unanswered_total") == 1


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (lambda: web.Response(body=b"x" * (LIMITS.max_response_bytes + 1)), "larger than 65536 bytes"),
        (lambda: web.Response(text="not json"), "not a signals window"),
        (
            lambda: web.json_response(
                {"replica": "x", "backends": {"chat-v2": {"requests": 1, "failures": 5, "overloaded": 0}}}
            ),
            "more failures and overloads than requests",
        ),
        (lambda: web.json_response({"replica": "x", "backends": {"other": {}}}), "other than those asked"),
        (lambda: web.json_response({"error": "no"}, status=403), "answered HTTP 403"),
        (lambda: web.Response(status=302, headers={"Location": "http://127.0.0.1:1/"}), "HTTP 302"),
    ],
)
def test_a_peer_answer_that_is_not_a_window_is_dropped_and_named(
    service: ServiceLoop, answer: Callable[[], Any], why: str
) -> None:
    async def handler(_: web.Request) -> web.StreamResponse:
        response: web.StreamResponse = answer()
        return response

    url = service.raw_peer(handler)
    windows = driver(service, store_with(ok=5, failed=0), url).window(["chat-v2"], NOW, NOW + 1)
    assert windows["chat-v2"].requests == 5
    [reason] = windows.unanswered
    assert reason.startswith(url) and why in reason, reason


def test_a_chunked_flood_without_length_is_cut_at_the_limit(service: ServiceLoop) -> None:
    async def flood(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(1000):  # 64 MiB if read to the end
            await response.write(b"{" * 65536)
        return response

    url = service.raw_peer(flood)
    windows = driver(service, store_with(ok=5, failed=0), url).window(["chat-v2"], NOW, NOW + 1)
    assert windows.unanswered == (f"{url}: answer larger than 65536 bytes",)


def test_a_wrong_token_is_refused_by_the_peer(service: ServiceLoop) -> None:
    url = service.gitxds_peer("replica-b", store_with(ok=10, failed=0), token="another-token")
    windows = driver(service, store_with(ok=5, failed=0), url).window(["chat-v2"], NOW, NOW + 1)
    assert windows.unanswered == (f"{url}: answered HTTP 401",)


def test_more_peers_than_the_limit_are_not_asked_and_the_window_is_partial(service: ServiceLoop) -> None:
    urls = [service.gitxds_peer(f"replica-{n}", store_with(ok=1, failed=0)) for n in range(5)]
    windows = driver(service, store_with(ok=0, failed=0), *urls).window(["chat-v2"], NOW, NOW + 1)
    assert windows["chat-v2"].requests == LIMITS.max_peers
    assert windows.unanswered == tuple(f"{u}: not asked (more than 3 peers)" for u in urls[3:])


def test_peers_from_dns_and_a_name_that_does_not_resolve(service: ServiceLoop) -> None:
    url = service.gitxds_peer("replica-b", store_with(ok=7, failed=0))
    port = int(url.rpartition(":")[2])
    found = driver(service, store_with(ok=0, failed=0), dns=("127.0.0.1", port))
    assert found.window(["chat-v2"], NOW, NOW + 1)["chat-v2"].requests == 7
    missing = driver(service, store_with(ok=0, failed=0), dns=("name.invalid", port))
    [reason] = missing.window(["chat-v2"], NOW, NOW + 1).unanswered
    assert reason.startswith("name.invalid:") and "did not resolve" in reason


def test_judging_on_the_event_loop_itself_never_deadlocks(service: ServiceLoop) -> None:
    url = service.gitxds_peer("replica-b", store_with(ok=7, failed=0))
    signals = driver(service, store_with(ok=1, failed=0), url)

    async def on_the_loop() -> Any:
        return signals.window(["chat-v2"], NOW, NOW + 1)

    windows = service.run(on_the_loop())
    assert windows["chat-v2"].requests == 1 and "not asked" in windows.unanswered[0]


@pytest.mark.parametrize(
    "text", ["10.0.0.1:9900", "http://10.0.0.1", "http://u:p@10.0.0.1:9900", "http://h:1/x", "ftp://h:1"]
)
def test_peer_urls_are_scheme_host_and_port_only(text: str) -> None:
    with pytest.raises(ValueError, match="--peer"):
        parse_peer_url(text)


def test_peer_flags_that_parse() -> None:
    assert parse_peer_url("http://10.0.0.1:9900/") == "http://10.0.0.1:9900"
    assert parse_peer_dns("gitxds-peers.gitxds.svc:9900") == ("gitxds-peers.gitxds.svc", 9900)
    with pytest.raises(ValueError, match="NAME:PORT"):
        parse_peer_dns("gitxds-peers")


@pytest.mark.parametrize(
    "query",
    [
        "start=1&end=2",
        "backends=&start=1&end=2",
        "backends=" + ",".join(f"b{n}" for n in range(65)) + "&start=1&end=2",
        "backends=" + "b" * 257 + "&start=1&end=2",
        "backends=a&start=x&end=2",
        "backends=a&start=2&end=1",
        "backends=a&start=0&end=3601",
        "backends=a&start=nan&end=2",
        "backends=a&start=1",
    ],
)
def test_the_windows_endpoint_checks_its_query(service: ServiceLoop, query: str) -> None:
    url = service.gitxds_peer("replica-b", store_with(ok=1, failed=0))
    request = urllib.request.Request(
        f"{url}/signals/windows?{query}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 400 and "error" in json.load(refused.value)
