"""What a published state is built from, and the build itself: each gateway translated once.

The writer (:class:`~gitxds.gitops.reconciler.Reconciler`) holds the :class:`Inputs` it serves.
Each input changes on its own: the config files (a commit), the secret store (a rotation), the
endpoints discovered for Kubernetes backends, rollout progress (applied to Git's model: ``model`` is
what is served). Another input is one more field here, replaced through ``Reconciler.apply``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from gitxds import ir
from gitxds.gitops.secrets import Secrets
from gitxds.rollout.controller import Applied
from gitxds.translators.xds import TranslationMemo, as_messages, translate_gateway, translate_incrementally
from gitxds.xds.cache import EncodingMemo, Snapshot

Endpoints = Mapping[ir.KubernetesEndpoints, tuple[ir.Endpoint, ...]]


@dataclass(frozen=True)
class Inputs:
    version: str  # the config version: a commit, or a content hash outside Git
    model: ir.Model
    secrets: Secrets = field(default_factory=Secrets)
    endpoints: Endpoints = field(default_factory=dict)  # discovered, per Kubernetes source
    rollouts: Applied | None = None  # the rollout progress ``model`` was served with

    @cached_property
    def kubernetes_sources(self) -> frozenset[ir.KubernetesEndpoints]:
        """Asked by each build and each publish: a walk over every backend, once per inputs."""
        return kubernetes_sources(self.model)


def kubernetes_sources(model: ir.Model) -> frozenset[ir.KubernetesEndpoints]:
    return _SOURCES.of(model.backends)


class _SourcesMemo:
    """The walk over every backend is done again only when the backends are not the very objects of
    the last call: a build after a route edit costs a comparison in C here."""

    def __init__(self) -> None:
        self._last: tuple[tuple[ir.Backend, ...], frozenset[ir.KubernetesEndpoints]] = ((), frozenset())

    def of(self, backends: tuple[ir.Backend, ...]) -> frozenset[ir.KubernetesEndpoints]:
        last_backends, last_sources = self._last  # one read: a racing writer replaces the pair at once
        if _same_items(last_backends, backends):
            return last_sources
        sources = frozenset(b.endpoints for b in backends if isinstance(b.endpoints, ir.KubernetesEndpoints))
        self._last = (backends, sources)
        return sources


_SOURCES = _SourcesMemo()


def _same_items(first: tuple[Any, ...], second: tuple[Any, ...]) -> bool:
    """The very same objects in the same order (compared in C)."""
    return first is second or (len(first) == len(second) and all(map(operator.is_, first, second)))


class _Messages(Mapping[str, dict[str, list[Any]]]):
    """Gateway -> type URL -> messages, decoded from what the translation kept serialized when first
    asked (only the fallback Envoy check asks)."""

    def __init__(self, resources: dict[str, dict[str, list[Any]]]) -> None:
        self._resources = resources
        self._decoded: dict[str, dict[str, list[Any]]] = {}

    def __getitem__(self, gateway: str) -> dict[str, list[Any]]:
        if gateway not in self._decoded:
            self._decoded[gateway] = as_messages(self._resources[gateway])
        return self._decoded[gateway]

    def __iter__(self) -> Iterator[str]:
        return iter(self._resources)

    def __len__(self) -> int:
        return len(self._resources)


@dataclass(frozen=True)
class Built:
    """One snapshot per gateway, and (only while the Envoy check needs them) the translated messages."""

    inputs: Inputs
    snapshots: dict[str, Snapshot]
    messages: Mapping[str, dict[str, list[Any]]]  # gateway -> type URL -> messages; empty unless kept


def build(
    inputs: Inputs,
    memo: EncodingMemo,
    previous: Callable[[str], Snapshot | None],
    *,
    keep_messages: bool = False,
    translation: TranslationMemo | None = None,
) -> Built:
    """Translate every gateway of ``inputs`` once and encode its resources through ``memo``.

    Raises ``UnknownSecretError`` and ``InconsistentSnapshotError`` (config problems) like the
    translator and the cache do; ``previous(gateway)`` lets unchanged tables be reused.
    """
    snapshots: dict[str, Snapshot] = {}
    messages: dict[str, dict[str, list[Any]]] = {}
    for gateway in inputs.model.gateways:
        if translation is None:
            resources = translate_gateway(inputs.model, gateway.name, inputs.secrets.values, inputs.endpoints)
        else:
            resources = translate_incrementally(
                inputs.model, gateway.name, inputs.secrets.values, inputs.endpoints, translation
            )
        snapshots[gateway.name] = memo.snapshot(
            resources, config_version=inputs.version, previous=previous(gateway.name), group=gateway.name
        )
        if keep_messages:
            messages[gateway.name] = resources
    return Built(inputs, snapshots, _Messages(messages))
