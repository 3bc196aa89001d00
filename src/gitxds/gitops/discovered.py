"""Discovered endpoints of Kubernetes-backed Backends, in every published snapshot.

A full build gets the latest discovered endpoints laid over the (empty) assignments the translator
emits for Kubernetes backends. An EndpointSlice change takes a fast path: only the affected backends'
ClusterLoadAssignments are built and encoded again, and the new snapshot reuses every other encoded
resource and table, so proxies are sent that EDS resource and nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment
from google.protobuf.message import Message

from gitxds import ir, typeurls
from gitxds.discovery import DiscoveryUnavailableError, EndpointDiscovery, EndpointsChanged
from gitxds.gitops.secrets import SecretStore
from gitxds.translators.xds import SecretValues, load_assignment_of
from gitxds.translators.xds.endpoints import endpoint_metadata_for
from gitxds.xds.cache import EncodedResource, ResourceEncoder, Snapshot, SnapshotCache

__all__ = ["DiscoveredEndpoints", "DiscoveryFactory", "kubernetes_sources"]

DiscoveryFactory = Callable[[EndpointsChanged], EndpointDiscovery]
GatewayResources = dict[str, list[Message]]  # type URL -> resources, as translate_gateway returns
Published = Callable[[str, Snapshot], None]


def _cluster_name(message: Message) -> str:
    return str(getattr(message, "cluster_name"))  # noqa: B009 - protobuf fields are dynamic


def kubernetes_sources(model: ir.Model) -> frozenset[ir.KubernetesEndpoints]:
    return frozenset(b.endpoints for b in model.backends if isinstance(b.endpoints, ir.KubernetesEndpoints))


class DiscoveredEndpoints:
    """Starts discovery once a served model has Kubernetes backends; use from the event loop."""

    def __init__(
        self,
        cache: SnapshotCache,
        secrets: SecretStore,
        make_discovery: DiscoveryFactory,
        *,
        on_published: Published | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self._cache = cache
        self._secrets = secrets
        self._make_discovery = make_discovery
        self._on_published = on_published
        self._log = logger or logging.getLogger("gitxds.discovery")
        self._encoder = ResourceEncoder()
        self._model = ir.Model()
        self._secret_values = SecretValues.of({})
        self.discovery: EndpointDiscovery | None = None
        self.fast_pushes = 0  # snapshots published by the EDS-only path

    def overlay(self, model: ir.Model, snapshots: Mapping[str, Snapshot]) -> dict[str, Snapshot]:
        """``snapshots`` (about to be published for ``model``) with the latest discovered endpoints."""
        self._model = model
        sources = kubernetes_sources(model)
        if self.discovery is None and not sources:
            return dict(snapshots)
        self._secret_values = SecretValues.of(self._secrets.values)  # as loaded for this build
        if self.discovery is None:
            try:
                self.discovery = self._make_discovery(self.endpoints_changed)
            except DiscoveryUnavailableError as exc:
                self._log.error("kubernetes backends get no endpoints: %s", exc)
                return dict(snapshots)
        self.discovery.follow(sources)
        backends = [b for b in model.backends if b.endpoints in sources]
        return {gateway: self._with_endpoints(s, backends) for gateway, s in snapshots.items()}

    def endpoints_changed(self, source: ir.KubernetesEndpoints) -> None:
        """The fast path: push new assignments for the backends of ``source`` in every gateway."""
        backends = [b for b in self._model.backends if b.endpoints == source]
        for gateway in self._cache.groups():
            current = self._cache.get(gateway)
            if current is None:
                continue
            updated = self._with_endpoints(current, backends)
            if updated is not current:
                self._cache.set_snapshot(gateway, updated)
                self.fast_pushes += 1
                if self._on_published is not None:
                    self._on_published(gateway, updated)

    @property
    def synced(self) -> bool:
        """False while a followed Service was never listed (its backends would get no endpoints)."""
        return self.discovery is None or self.discovery.synced

    async def wait_synced(self, timeout: float) -> bool:
        return self.discovery is None or await self.discovery.wait_synced(timeout)

    def with_discovered(self, model: ir.Model, resources: GatewayResources) -> GatewayResources:
        """Translated resources (for a dump: secrets redacted) with the discovered endpoints."""
        if self.discovery is None:
            return resources
        redacted = SecretValues.of(None)
        backends = {b.name: b for b in model.backends if isinstance(b.endpoints, ir.KubernetesEndpoints)}
        assignments = [
            self._assignment(backends[name], redacted) if (name := _cluster_name(m)) in backends else m
            for m in resources[typeurls.ENDPOINT]
        ]
        return {**resources, typeurls.ENDPOINT: assignments}

    def status(self) -> list[dict[str, Any]]:
        return self.discovery.status() if self.discovery is not None else []

    def stop(self) -> None:
        if self.discovery is not None:
            self.discovery.stop()

    def _assignment(self, backend: ir.Backend, secrets: SecretValues) -> ClusterLoadAssignment:
        assert self.discovery is not None and isinstance(backend.endpoints, ir.KubernetesEndpoints)
        endpoints = self.discovery.endpoints(backend.endpoints)
        return load_assignment_of(backend.name, endpoints, endpoint_metadata_for(backend, secrets))

    def _with_endpoints(self, snapshot: Snapshot, backends: Iterable[ir.Backend]) -> Snapshot:
        """``snapshot`` itself when nothing differs, else one whose other resources are the same objects."""
        table = snapshot.resources(typeurls.ENDPOINT)
        replaced: dict[str, EncodedResource] = {}
        for backend in backends:
            if backend.name not in table or self.discovery is None:
                continue
            assignment = self._assignment(backend, self._secret_values)
            encoded = self._encoder.encode(typeurls.ENDPOINT, assignment)
            if encoded.version != table.resources[backend.name].version:
                replaced[backend.name] = encoded
        if not replaced:
            return snapshot
        resources = {type_url: list(snapshot.resources(type_url)) for type_url in typeurls.PUSH_ORDER}
        resources[typeurls.ENDPOINT] = [replaced.get(r.name, r) for r in table]
        return Snapshot.build(resources, config_version=snapshot.config_version, previous=snapshot)
