"""Discovery of the endpoints of Kubernetes-backed Backends, feeding the writer as an input.

Discovery starts once a served model has Kubernetes backends. Each change of a source's endpoints
goes to the writer (``set_endpoints``), which alone builds and publishes snapshots.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from gitxds import ir
from gitxds.discovery import DiscoveryUnavailableError, EndpointDiscovery, EndpointsChanged

__all__ = ["DiscoveryFactory", "EndpointFeed", "KubernetesEndpointsSink"]

DiscoveryFactory = Callable[[EndpointsChanged], EndpointDiscovery]
KubernetesEndpointsSink = Callable[[ir.KubernetesEndpoints, Iterable[ir.Endpoint]], None]


class EndpointFeed:
    """Follows the Services the served model names and hands their endpoints to ``sink``. Use from
    the event loop."""

    def __init__(
        self,
        make_discovery: DiscoveryFactory,
        sink: KubernetesEndpointsSink,
        *,
        logger: logging.Logger | None = None,
    ) -> None:
        self._make_discovery = make_discovery
        self._sink = sink
        self._log = logger or logging.getLogger("gitxds.discovery")
        self.discovery: EndpointDiscovery | None = None

    def follow(self, sources: frozenset[ir.KubernetesEndpoints]) -> None:
        """Watch exactly ``sources``; the endpoints already known for them go to the sink at once."""
        if self.discovery is None:
            if not sources:
                return
            try:
                self.discovery = self._make_discovery(self._changed)
            except DiscoveryUnavailableError as exc:
                self._log.error("kubernetes backends get no endpoints: %s", exc)
                return
        self.discovery.follow(sources)
        for source in sorted(sources, key=lambda s: (s.namespace, s.service, s.port)):
            self._sink(source, self.discovery.endpoints(source))

    def _changed(self, source: ir.KubernetesEndpoints) -> None:
        if self.discovery is not None:
            self._sink(source, self.discovery.endpoints(source))

    @property
    def synced(self) -> bool:
        """False while a followed Service was never listed (its backends would get no endpoints)."""
        return self.discovery is None or self.discovery.synced

    async def wait_synced(self, timeout: float) -> bool:
        return self.discovery is None or await self.discovery.wait_synced(timeout)

    def status(self) -> list[dict[str, Any]]:
        return self.discovery.status() if self.discovery is not None else []

    def stop(self) -> None:
        if self.discovery is not None:
            self.discovery.stop()
