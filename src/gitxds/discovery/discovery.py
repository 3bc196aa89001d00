"""The endpoints of every Kubernetes-backed Backend, kept current on the caller's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from gitxds import ir
from gitxds.discovery.client import pods_api
from gitxds.discovery.slices import endpoints_for_port, pods_selected
from gitxds.discovery.watch import Backoff, PodLabels, PodWatch, ResourceWatch, Slices, SliceWatch

__all__ = ["EndpointDiscovery", "EndpointsChanged"]

EndpointsChanged = Callable[[ir.KubernetesEndpoints], None]
_ServiceKey = tuple[str, str]  # (namespace, service)


class EndpointDiscovery:
    """Watches the EndpointSlices of the Services that :meth:`follow` names, and the pods' labels in
    the namespaces of sources with a pod selector.

    One thread per watch runs the synchronous client; its results are handed to the event loop with
    ``call_soon_threadsafe``, so :meth:`endpoints` and ``on_change`` only ever run on the loop.
    ``on_change(source)`` is called when a source's endpoints differ from before. ``api`` is a
    ``kubernetes.client.DiscoveryV1Api``; pods are read through a ``CoreV1Api`` on the same client
    unless ``pods`` gives one.
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
        pods: Any = None,
    ) -> None:
        self._api = api
        self._pods_api = pods
        self._on_change = on_change
        self._loop = loop
        self._log = logger or logging.getLogger("gitxds.discovery")
        self._watch_seconds = watch_seconds
        self._backoff = backoff or Backoff()
        self._sources: frozenset[ir.KubernetesEndpoints] = frozenset()
        self._watches: dict[_ServiceKey, ResourceWatch] = {}
        self._slices: dict[_ServiceKey, Slices] = {}
        self._pod_watches: dict[str, ResourceWatch] = {}  # namespace -> its pods' labels
        self._pods: dict[str, PodLabels] = {}
        self._endpoints: dict[ir.KubernetesEndpoints, tuple[ir.Endpoint, ...]] = {}
        self._synced = asyncio.Event()

    @property
    def sources(self) -> frozenset[ir.KubernetesEndpoints]:
        return self._sources

    def follow(self, sources: Iterable[ir.KubernetesEndpoints]) -> None:
        """Watch exactly what these sources need: new watches start, ones no longer needed stop."""
        self._sources = frozenset(sources)
        services = {(s.namespace, s.service) for s in self._sources}
        _sync_watches(self._watches, services, self._start_slice_watch, self._slices)
        namespaces = {s.namespace for s in self._sources if s.selector}
        _sync_watches(self._pod_watches, namespaces, self._start_pod_watch, self._pods)
        for source in list(self._endpoints):
            if source not in self._sources:
                del self._endpoints[source]
        for source in self._sources:
            endpoints = self._current(source)
            if endpoints is not None:
                self._endpoints[source] = endpoints
        self._update_synced()

    @property
    def synced(self) -> bool:
        """Every followed Service (and namespace whose pods are selected) was listed at least once."""
        return self._synced.is_set()

    def endpoints(self, source: ir.KubernetesEndpoints) -> tuple[ir.Endpoint, ...]:
        """The endpoints that get traffic; empty until what the source needs was first listed."""
        return self._endpoints.get(source, ())

    async def wait_synced(self, timeout: float) -> bool:
        """Wait until every followed Service was listed at least once; False on timeout."""
        try:
            await asyncio.wait_for(self._synced.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def status(self) -> list[dict[str, Any]]:
        """Each followed source: its endpoints, whether it was listed, the latest error."""
        return [self._status_row(source) for source in sorted(self._sources, key=_order)]

    def stop(self) -> None:
        for watch in (*self._watches.values(), *self._pod_watches.values()):
            watch.stop()
        self._watches.clear()
        self._pod_watches.clear()

    def _status_row(self, source: ir.KubernetesEndpoints) -> dict[str, Any]:
        key = (source.namespace, source.service)
        watches = [self._watches.get(key)]
        if source.selector:
            watches.append(self._pod_watches.get(source.namespace))
        errors = [w.last_error for w in watches if w is not None and w.last_error]
        row: dict[str, Any] = {
            "namespace": source.namespace,
            "service": source.service,
            "port": source.port,
            "listed": self._current(source) is not None,
            "endpoints": [e.address for e in self.endpoints(source)],
            "last_error": errors[0] if errors else None,
        }
        if source.selector:
            row["selector"] = dict(source.selector)
        return row

    def _current(self, source: ir.KubernetesEndpoints) -> tuple[ir.Endpoint, ...] | None:
        """The source's endpoints from what was listed; None while something it needs was not."""
        slices = self._slices.get((source.namespace, source.service))
        if slices is None:
            return None
        if not source.selector:
            return endpoints_for_port(slices.values(), source.port)
        pods = self._pods.get(source.namespace)
        if pods is None:
            return None
        return endpoints_for_port(slices.values(), source.port, pods_selected(pods, source.selector))

    def _post(self, handle: Callable[..., None], *args: Any) -> None:
        """From a watch thread: run ``handle(*args)`` on the loop."""
        with contextlib.suppress(RuntimeError):  # the loop closed while this watch was stopping
            self._loop.call_soon_threadsafe(handle, *args)

    def _start_slice_watch(self, key: _ServiceKey) -> ResourceWatch:
        def deliver(slices: Slices) -> None:  # ``watch`` is bound before the thread starts
            self._post(self._on_slices, key, watch, slices)

        watch = SliceWatch(self._api, *key, deliver, **self._watch_options())
        return watch.start()

    def _start_pod_watch(self, namespace: str) -> ResourceWatch:
        def deliver(pods: PodLabels) -> None:
            self._post(self._on_pods, namespace, watch, pods)

        if self._pods_api is None:
            self._pods_api = pods_api(self._api)
        watch = PodWatch(self._pods_api, namespace, deliver, **self._watch_options())
        return watch.start()

    def _watch_options(self) -> dict[str, Any]:
        return {"logger": self._log, "watch_seconds": self._watch_seconds, "backoff": self._backoff}

    def _on_slices(self, key: _ServiceKey, watch: ResourceWatch, slices: Slices) -> None:
        if self._watches.get(key) is not watch:
            return  # from a watch stopped since
        self._slices[key] = slices
        self._refresh(s for s in self._sources if (s.namespace, s.service) == key)

    def _on_pods(self, namespace: str, watch: ResourceWatch, pods: PodLabels) -> None:
        if self._pod_watches.get(namespace) is not watch:
            return
        self._pods[namespace] = pods
        self._refresh(s for s in self._sources if s.namespace == namespace and s.selector)

    def _refresh(self, sources: Iterable[ir.KubernetesEndpoints]) -> None:
        for source in sorted(sources, key=_order):
            endpoints = self._current(source)
            if endpoints is not None and self._endpoints.get(source) != endpoints:
                self._endpoints[source] = endpoints
                self._on_change(source)
        self._update_synced()

    def _update_synced(self) -> None:
        listed = all(key in self._slices for key in self._watches) and all(
            namespace in self._pods for namespace in self._pod_watches
        )
        if listed:
            self._synced.set()
        else:
            self._synced.clear()


def _sync_watches(
    watches: dict[Any, ResourceWatch],
    wanted: set[Any],
    start: Callable[[Any], ResourceWatch],
    listed: dict[Any, Any],
) -> None:
    """Stop the watches no longer wanted (forgetting what they listed) and start the new ones."""
    for key in sorted(set(watches) - wanted):
        watches.pop(key).stop()
        listed.pop(key, None)
    for key in sorted(wanted - set(watches)):
        watches[key] = start(key)


def _order(source: ir.KubernetesEndpoints) -> tuple[str, str, int, tuple[tuple[str, str], ...]]:
    return source.namespace, source.service, source.port, source.selector
