"""The endpoints of every Kubernetes-backed Backend, kept current on the caller's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from gitxds import ir
from gitxds.discovery.slices import endpoints_for_port
from gitxds.discovery.watch import Backoff, Slices, SliceWatch

__all__ = ["EndpointDiscovery", "EndpointsChanged"]

EndpointsChanged = Callable[[ir.KubernetesEndpoints], None]
_ServiceKey = tuple[str, str]  # (namespace, service)


class EndpointDiscovery:
    """Watches the EndpointSlices of the Services that :meth:`follow` names.

    One thread per (namespace, service) runs the synchronous client; its results are handed to the
    event loop with ``call_soon_threadsafe``, so :meth:`endpoints` and ``on_change`` only ever run on
    the loop. ``on_change(source)`` is called when a source's endpoints differ from before.
    ``api`` is a ``kubernetes.client.DiscoveryV1Api``.
    """

    def __init__(
        self,
        api: Any,
        on_change: EndpointsChanged,
        *,
        loop: asyncio.AbstractEventLoop,
        logger: logging.Logger | None = None,
        watch_seconds: int = 300,
        backoff: Backoff | None = None,
    ) -> None:
        self._api = api
        self._on_change = on_change
        self._loop = loop
        self._log = logger or logging.getLogger("gitxds.discovery")
        self._watch_seconds = watch_seconds
        self._backoff = backoff or Backoff()
        self._sources: frozenset[ir.KubernetesEndpoints] = frozenset()
        self._watches: dict[_ServiceKey, SliceWatch] = {}
        self._slices: dict[_ServiceKey, Slices] = {}
        self._endpoints: dict[ir.KubernetesEndpoints, tuple[ir.Endpoint, ...]] = {}
        self._synced = asyncio.Event()

    @property
    def sources(self) -> frozenset[ir.KubernetesEndpoints]:
        return self._sources

    def follow(self, sources: Iterable[ir.KubernetesEndpoints]) -> None:
        """Watch exactly the Services these sources name: new ones start, ones no longer named stop."""
        self._sources = frozenset(sources)
        wanted = {(s.namespace, s.service) for s in self._sources}
        for key in sorted(set(self._watches) - wanted):
            self._watches.pop(key).stop()
            self._slices.pop(key, None)
        for key in sorted(wanted - set(self._watches)):
            self._watches[key] = self._start_watch(key)
        for source in list(self._endpoints):
            if source not in self._sources:
                del self._endpoints[source]
        for source in self._sources:
            slices = self._slices.get((source.namespace, source.service))
            if slices is not None:
                self._endpoints[source] = endpoints_for_port(slices.values(), source.port)
        self._update_synced()

    @property
    def synced(self) -> bool:
        """Every followed Service was listed at least once."""
        return self._synced.is_set()

    def endpoints(self, source: ir.KubernetesEndpoints) -> tuple[ir.Endpoint, ...]:
        """The endpoints that get traffic; empty until the Service's slices were first listed."""
        return self._endpoints.get(source, ())

    async def wait_synced(self, timeout: float) -> bool:
        """Wait until every followed Service was listed at least once; False on timeout."""
        try:
            await asyncio.wait_for(self._synced.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def status(self) -> list[dict[str, Any]]:
        """Each followed source: its endpoints, whether its Service was listed, the latest error."""
        rows = []
        for source in sorted(self._sources, key=_order):
            key = (source.namespace, source.service)
            watch = self._watches.get(key)
            rows.append(
                {
                    "namespace": source.namespace,
                    "service": source.service,
                    "port": source.port,
                    "listed": key in self._slices,
                    "endpoints": [e.address for e in self.endpoints(source)],
                    "last_error": watch.last_error if watch is not None else None,
                }
            )
        return rows

    def stop(self) -> None:
        for watch in self._watches.values():
            watch.stop()
        self._watches.clear()

    def _start_watch(self, key: _ServiceKey) -> SliceWatch:
        namespace, service = key
        watch: SliceWatch | None = None

        def deliver(slices: Slices) -> None:  # runs on the watch thread
            with contextlib.suppress(RuntimeError):  # the loop closed while this watch was stopping
                self._loop.call_soon_threadsafe(self._on_slices, key, watch, slices)

        watch = SliceWatch(
            self._api,
            namespace,
            service,
            deliver,
            logger=self._log,
            watch_seconds=self._watch_seconds,
            backoff=self._backoff,
        )
        return watch.start()

    def _on_slices(self, key: _ServiceKey, watch: SliceWatch | None, slices: Slices) -> None:
        if self._watches.get(key) is not watch:
            return  # from a watch stopped since
        self._slices[key] = slices
        for source in sorted(self._sources, key=_order):
            if (source.namespace, source.service) != key:
                continue
            endpoints = endpoints_for_port(slices.values(), source.port)
            if self._endpoints.get(source) != endpoints:
                self._endpoints[source] = endpoints
                self._on_change(source)
        self._update_synced()

    def _update_synced(self) -> None:
        if all(key in self._slices for key in self._watches):
            self._synced.set()
        else:
            self._synced.clear()


def _order(source: ir.KubernetesEndpoints) -> tuple[str, str, int]:
    return source.namespace, source.service, source.port
