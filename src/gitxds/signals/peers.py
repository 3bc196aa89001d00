"""Rollout analysis over the traffic of every replica's proxies: the driving replica asks its peers.

Each Envoy streams its access logs to the one replica it is connected to, so each replica's
:class:`SignalStore` holds only its own proxies' traffic. When the replica that drives the rollouts
judges an interval, :class:`PeerSignals` adds to its own summary of ``[start, end)`` the summaries
of the same interval from every peer, fetched then (``GET /signals/windows`` on the peer's admin
endpoint, with the admin token every replica shares). Summaries are counts and fixed-bucket latency
histograms (:mod:`gitxds.signals.summary`), so the merge is exact and percentiles are those of the
union of the traffic. A peer answers from its own store only (never asks its peers), so nothing is
counted twice; a peer reached twice (DNS listing one pod twice) or this replica itself (a headless
Service lists every replica) is recognised by the replica name in the answer and counted once or not.

Why pull at judge time rather than forward access logs to the lease holder or publish summaries in the
Lease: the interval is judged ``settle`` seconds after it ends, and a pull then sees exactly what the
peer received by then, the same lateness the holder's own logs get; nothing flows while no rollout
is judged, and a peer that cannot answer is known at once and named (see :mod:`gitxds.rollout.analysis`
for how the verdict accounts for it: it can fail, never pass, on partial data).

Bounds: at most ``max_peers`` peers are asked (more are reported unanswered, so the verdict cannot pass
without them); every fetch of one window shares one deadline (``timeout_seconds``), so a slow or
hostile peer delays a judgement by at most that; an answer larger than ``max_response_bytes`` or not
shaped like gitxds's is dropped and the peer reported unanswered.

The rollout clock judges in a worker thread; the fetches run on the service's event loop (aiohttp),
and :meth:`PeerSignals.window` waits for them from the worker.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry, Counter

from gitxds.signals.records import BackendWindow
from gitxds.signals.store import SignalStore
from gitxds.signals.summary import BackendSummary, SummaryError

__all__ = ["PeerLimits", "PeerSignals", "PeerWindows", "parse_peer_dns", "parse_peer_url"]

WINDOWS_PATH = "/signals/windows"
MAX_BACKENDS = 64  # per request; a rollout judges the new backends of one rule


@dataclass(frozen=True)
class PeerLimits:
    timeout_seconds: float = 1.0  # for all the peers of one window together
    max_peers: int = 16
    max_response_bytes: int = 1 << 20


class PeerWindows(dict[str, BackendWindow]):
    """Windows over every replica that answered; ``unanswered`` names the others ("who: why")."""

    def __init__(self, windows: Mapping[str, BackendWindow], unanswered: Sequence[str] = ()) -> None:
        super().__init__(windows)
        self.unanswered = tuple(unanswered)


class PeerError(Exception):
    """A peer that did not answer with a window (unreachable, slow, refused, too large, malformed)."""


def parse_peer_url(text: str) -> str:
    """``http(s)://HOST:PORT`` of a peer's admin endpoint; raises ValueError on anything else."""
    url = urllib.parse.urlsplit(text)
    if url.scheme not in ("http", "https") or not url.hostname or url.port is None:
        raise ValueError(f"--peer {text}: write http://HOST:PORT (a peer replica's admin endpoint)")
    if url.username or url.password or url.path not in ("", "/") or url.query or url.fragment:
        raise ValueError(f"--peer {text}: only scheme, host and port (the admin token authenticates)")
    return f"{url.scheme}://{url.netloc}"


def parse_peer_dns(text: str) -> tuple[str, int]:
    """``NAME:PORT`` of a headless Service resolving to every replica; raises ValueError otherwise."""
    name, _, port = text.rpartition(":")
    if not name or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--peer-dns {text}: write NAME:PORT (a headless Service and the admin port)")
    return name, int(port)


class PeerSignals:
    """A ``WindowSource`` (:mod:`gitxds.rollout.analysis`): this replica's store plus its peers'."""

    def __init__(
        self,
        local: SignalStore,
        *,
        replica: str,
        peers: Sequence[str] = (),
        dns: tuple[str, int] | None = None,
        token: str | None = None,
        limits: PeerLimits = PeerLimits(),
        logger: logging.Logger | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.local = local
        self.replica = replica  # this replica's name, sent in its answers
        self.peers = tuple(peers)
        self.dns = dns
        self.limits = limits
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._log = logger or logging.getLogger("gitxds.signals")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unanswered = Counter(
            "gitxds_rollout_peer_unanswered_total",
            "Peers that gave no signals for an interval this replica judged (the evidence and log say "
            "which and why)",
            registry=registry,
        )

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The event loop peers are fetched on (the service's)."""
        self._loop = loop

    @property
    def has_peers(self) -> bool:
        return bool(self.peers or self.dns)

    # -- the peer side: what this replica answers ------------------------------------------------

    def answer(self, backends: Sequence[str], start: float, end: float) -> dict[str, Any]:
        """This replica's own summaries (never its peers': they are asked directly)."""
        summaries = self.local.summaries(backends, start, end)
        return {
            "replica": self.replica,
            "start": start,
            "end": end,
            "backends": {name: summary.to_json() for name, summary in summaries.items()},
        }

    # -- the driver side -------------------------------------------------------------------------

    def window(self, backends: Iterable[str], start: float, end: float) -> PeerWindows:
        names = tuple(dict.fromkeys(backends))
        merged = self.local.summaries(names, start, end)
        unanswered: list[str] = []
        if self.has_peers:
            answers, unanswered = self._fetch_blocking(names, start, end)
            for answer in answers:
                for name, summary in answer.items():
                    merged[name].merge(summary)
        return PeerWindows({name: s.window(name) for name, s in merged.items()}, unanswered)

    def _fetch_blocking(
        self, backends: Sequence[str], start: float, end: float
    ) -> tuple[list[dict[str, BackendSummary]], list[str]]:
        loop = self._loop
        if loop is None or loop.is_closed() or _running_on(loop):
            # Waiting on the loop from the loop would deadlock: the clock must judge off the loop.
            return [], [f"{p}: not asked (no event loop to ask from)" for p in self.peers or ["peers"]]
        future = asyncio.run_coroutine_threadsafe(self.fetch(backends, start, end), loop)
        try:
            return future.result(timeout=self.limits.timeout_seconds + 1.0)
        except TimeoutError:  # the loop itself is stuck; fetch() bounds its own time
            future.cancel()
            return [], [f"{p}: no answer in time" for p in self.peers or ["peers"]]

    async def fetch(
        self, backends: Sequence[str], start: float, end: float
    ) -> tuple[list[dict[str, BackendSummary]], list[str]]:
        """Every peer's summaries of ``[start, end)``, and the peers that did not give one."""
        if len(backends) > MAX_BACKENDS:
            return [], [f"peers: more than {MAX_BACKENDS} backends to judge"]
        query = urllib.parse.urlencode({"backends": ",".join(backends), "start": start, "end": end})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.timeout_seconds
        try:
            urls = await asyncio.wait_for(self._peer_urls(), self.limits.timeout_seconds)
        except (OSError, TimeoutError) as exc:
            return [], [f"{self._dns_text()}: did not resolve ({_reason(exc)})"]
        cap = self.limits.max_peers
        unanswered = [f"{url}: not asked (more than {cap} peers)" for url in urls[cap:]]
        answers: dict[str, dict[str, BackendSummary]] = {}
        async with aiohttp.ClientSession(headers=self._headers) as session:
            tasks = {
                asyncio.create_task(
                    self._fetch_one(session, f"{url}{WINDOWS_PATH}?{query}", set(backends))
                ): url
                for url in urls[:cap]
            }
            if tasks:
                await asyncio.wait(tasks, timeout=max(0.0, deadline - loop.time()))
            for task, url in tasks.items():
                if not task.done():
                    task.cancel()
                    unanswered.append(f"{url}: no answer in time")
                elif task.exception() is not None:
                    unanswered.append(f"{url}: {_reason(task.exception())}")
                else:
                    replica, summaries = task.result()
                    if replica != self.replica:  # not this replica itself, and each replica once
                        answers[replica] = summaries
            await asyncio.gather(*tasks, return_exceptions=True)  # the cancelled ones end here
        self._unanswered.inc(len(unanswered))
        for reason in unanswered:
            self._log.warning("no signals of [%.3f, %.3f) from peer %s", start, end, reason)
        return list(answers.values()), unanswered

    async def _peer_urls(self) -> list[str]:
        urls = list(self.peers)
        if self.dns is not None:
            name, port = self.dns
            loop = asyncio.get_running_loop()
            infos = await loop.getaddrinfo(name, port, type=socket.SOCK_STREAM)  # one entry per address
            for address in sorted({info[4][0] for info in infos}):
                host = f"[{address}]" if ":" in str(address) else str(address)
                urls.append(f"http://{host}:{port}")
        return list(dict.fromkeys(urls))

    def _dns_text(self) -> str:
        return f"{self.dns[0]}:{self.dns[1]}" if self.dns else "peers"

    async def _fetch_one(
        self, session: aiohttp.ClientSession, url: str, wanted: set[str]
    ) -> tuple[str, dict[str, BackendSummary]]:
        async with session.get(url, allow_redirects=False) as response:
            if response.status != 200:
                raise PeerError(f"answered HTTP {response.status}")
            body = await _read_capped(response, self.limits.max_response_bytes)
        try:
            data = json.loads(body)
            return _parsed(data, wanted)
        except (ValueError, SummaryError) as exc:
            raise PeerError(f"not a signals window: {exc}") from None


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    if (response.content_length or 0) > limit:
        raise PeerError(f"answer larger than {limit} bytes")
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise PeerError(f"answer larger than {limit} bytes")
    return bytes(body)


def _parsed(data: Any, wanted: set[str]) -> tuple[str, dict[str, BackendSummary]]:
    if not isinstance(data, dict) or not isinstance(data.get("replica"), str):
        raise SummaryError("no replica name")
    backends = data.get("backends")
    if not isinstance(backends, dict) or not set(backends) <= wanted:
        raise SummaryError("backends other than those asked for")
    summaries = {name: BackendSummary.from_json(summary) for name, summary in backends.items()}
    return data["replica"][:256], summaries


def _reason(exc: BaseException | None) -> str:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "no answer in time"
    if isinstance(exc, PeerError):
        return str(exc)
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")


def _running_on(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:  # no loop runs in this thread
        return False
