"""What a published state is built from, and the build itself: each gateway translated once.

The writer (:class:`~gitxds.gitops.reconciler.Reconciler`) holds the :class:`Inputs` it serves.
Each input changes on its own: the config files (a commit), the secret store (a rotation), the
endpoints discovered for Kubernetes backends, rollout progress (applied to Git's model: ``model`` is
what is served). Another input is one more field here, replaced through ``Reconciler.apply``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from gitxds import ir
from gitxds.gitops.secrets import Secrets
from gitxds.rollout.controller import Applied
from gitxds.translators.xds import TranslationMemo, translate_gateway
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
    return frozenset(b.endpoints for b in model.backends if isinstance(b.endpoints, ir.KubernetesEndpoints))


@dataclass(frozen=True)
class Built:
    """One snapshot per gateway, and (only while the Envoy check needs them) the translated messages."""

    inputs: Inputs
    snapshots: dict[str, Snapshot]
    messages: dict[str, dict[str, list[Any]]]  # gateway -> type URL -> messages; empty unless kept


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
        resources = translate_gateway(
            inputs.model, gateway.name, inputs.secrets.values, inputs.endpoints, memo=translation
        )
        snapshots[gateway.name] = memo.snapshot(
            resources, config_version=inputs.version, previous=previous(gateway.name), group=gateway.name
        )
        if keep_messages:
            messages[gateway.name] = resources
    return Built(inputs, snapshots, messages)
