"""Turn the config directory into published snapshots, keeping the last known good one on any error.

A version with any diagnostic is never served: the previous snapshots keep serving, and the
diagnostics are recorded against the commit, logged, counted and shown in status. Before a version is
published, a real Envoy checks it (``envoy --mode validate``) when a binary is available, so a config
Envoy would reject never reaches the fleet.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from gitxds import ir
from gitxds.errors import Diagnostic, Reason
from gitxds.gcpause import collector_paused
from gitxds.gitops.envoy_check import validate_bootstrap
from gitxds.gitops.gitcmd import work_tree_root
from gitxds.gitops.pipeline import IncrementalLoader, LoadOutcome
from gitxds.gitops.secrets import SecretStore
from gitxds.gitops.status import Attempt, ConfigStatus
from gitxds.gitops.translation import MemoizedTranslator
from gitxds.gitops.version import files_version, git_version
from gitxds.metrics import Metrics
from gitxds.rollout.controller import Applied, RolloutController
from gitxds.translators.xds import UnknownSecretError, static_bootstrap
from gitxds.xds.cache import InconsistentSnapshotError, Snapshot, SnapshotCache

# Adds what the config cannot know (discovered endpoints) to the snapshots about to be published.
SnapshotOverlay = Callable[[ir.Model, dict[str, Snapshot]], dict[str, Snapshot]]


@dataclass(frozen=True, slots=True)
class _Candidate:
    version: str
    outcome: LoadOutcome
    snapshots: dict[str, Snapshot]
    problems: tuple[Diagnostic, ...]
    served: ir.Model  # Git's model with rollout progress applied
    rollouts: Applied | None = None


class Reconciler:
    """Owns the path from files to published snapshots. Use from the server's event loop."""

    def __init__(
        self,
        config_dir: Path,
        cache: SnapshotCache,
        metrics: Metrics,
        *,
        secrets: SecretStore,
        envoy: str | None = None,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
        overlay: SnapshotOverlay | None = None,
        rollouts: RolloutController | None = None,
    ) -> None:
        self.config_dir = config_dir
        self.cache = cache
        self.metrics = metrics
        self.secrets = secrets
        self.envoy = envoy
        self.status = ConfigStatus(str(config_dir))
        self.model: ir.Model | None = None  # the model being served
        self._log = logger or logging.getLogger("gitxds.reconciler")
        self._clock = clock
        self._loader = IncrementalLoader(config_dir)
        self._translator = MemoizedTranslator()
        self._lock = asyncio.Lock()
        # Asked on the first build (a --git-url clone appears only then), not on every reload.
        self._in_git_work_tree: bool | None = None
        self.detected_at: dict[str, float] = {}  # config version -> when its change was detected
        self._overlay = overlay  # runs on the loop at publish time, so it sees the latest discoveries
        self._rollouts = rollouts  # rollout progress: an input of the build, like the files

    def resolve_group(self, node_id: str, node_cluster: str) -> str | None:
        """The gateway whose ``proxies`` selector matches a node (node id selectors win)."""
        if self.model is None:
            return None
        by_cluster = None
        for gateway in self.model.gateways:
            if gateway.proxies.node_id is not None and gateway.proxies.node_id == node_id:
                return gateway.name
            if by_cluster is None and gateway.proxies.matches(node_id, node_cluster):
                by_cluster = gateway.name
        return by_cluster

    async def reload(self, trigger: str, detected_at: float | None = None) -> Attempt:
        """Build the directory as it is now and publish it if, and only if, it is entirely valid."""
        detected = self._clock() if detected_at is None else detected_at
        async with self._lock:
            started = self._clock()
            candidate = await asyncio.to_thread(self._build_with_collector_paused)
            problems = candidate.problems
            if not problems and self.envoy and not self._only_weights_moved(candidate, trigger):
                problems = await self._envoy_check(candidate.served)
            build_seconds = self._clock() - started
            attempt = Attempt(candidate.version, time.time(), not problems, trigger, problems, build_seconds)
            if problems:
                self._reject(attempt)
            else:
                self._publish(candidate, attempt, detected)
            return attempt

    def _only_weights_moved(self, candidate: _Candidate, trigger: str) -> bool:
        """A rollout step of the version Envoy already accepted changes route weights only."""
        served = self.status.served
        return trigger.startswith("rollout") and served is not None and served.version == candidate.version

    def _build_with_collector_paused(self) -> _Candidate:
        with collector_paused():
            return self._build()

    def _build(self) -> _Candidate:
        outcome = self._loader.load()
        if self._in_git_work_tree is None:
            self._in_git_work_tree = work_tree_root(self.config_dir) is not None
        in_git = self._in_git_work_tree
        version = (git_version(self.config_dir) if in_git else None) or files_version(outcome.files)
        problems = list(outcome.diagnostics)
        snapshots: dict[str, Snapshot] = {}
        applied = None
        served = outcome.compiled.model
        if not problems and self._rollouts is not None:
            applied = self._rollouts.apply(served, version)
            served = applied.served
        if not problems:
            secret_values = self.secrets.load()
            try:
                snapshots = self._translator.snapshots(served, secret_values, version, self.cache)
            except UnknownSecretError as exc:
                problems.append(Diagnostic("", 0, "", Reason.UNKNOWN_SECRET, str(exc)))
            except InconsistentSnapshotError as exc:
                problems.append(Diagnostic("", 0, "", Reason.ENVOY_REJECTED, str(exc)))
        return _Candidate(version, outcome, snapshots, tuple(problems), served, applied)

    async def _envoy_check(self, model: ir.Model) -> tuple[Diagnostic, ...]:
        assert self.envoy is not None
        names = [g.name for g in model.gateways]
        verdicts = await asyncio.gather(
            *(
                # with the real secrets (in a private temporary file) so certificates are checked too;
                # redacted placeholders are no certificate and Envoy would refuse every HTTPS listener
                validate_bootstrap(self.envoy, static_bootstrap(model, name, self.secrets.values))
                for name in names
            )
        )
        return tuple(
            Diagnostic(
                "",
                0,
                f"Gateway {name}",
                Reason.ENVOY_REJECTED,
                f"envoy --mode validate rejected this config: {self.secrets.redact(verdict.message)}",
            )
            for name, verdict in zip(names, verdicts, strict=True)
            if not verdict.accepted
        )

    def _reject(self, attempt: Attempt) -> None:
        self.status.record(attempt)
        self.metrics.config_reloads.labels(result="rejected").inc()
        for diagnostic in attempt.diagnostics:
            self.metrics.config_errors.labels(reason=diagnostic.reason.value).inc()
        served = self.status.served.version if self.status.served else "nothing"
        self._log.error(
            "config %s refused (%d problem(s)); still serving %s",
            attempt.version,
            len(attempt.diagnostics),
            served,
        )
        for diagnostic in attempt.diagnostics:
            self._log.error("  %s", diagnostic)

    def _publish(self, candidate: _Candidate, attempt: Attempt, detected: float) -> None:
        self.model = candidate.served
        if self._overlay is not None:
            candidate = replace(candidate, snapshots=self._overlay(candidate.served, candidate.snapshots))
        changed = []
        for gateway, snapshot in sorted(candidate.snapshots.items()):
            current = self.cache.get(gateway)
            if current is None or current.version != snapshot.version:
                changed.append(gateway)
                self.cache.set_snapshot(gateway, snapshot)
        for gateway in set(self.cache.groups()) - set(candidate.snapshots):
            self.cache.clear_snapshot(gateway)
            changed.append(gateway)
        if self._rollouts is not None and candidate.rollouts is not None:
            self._rollouts.commit(candidate.rollouts)
        self.detected_at[attempt.version] = detected
        _keep_recent(self.detected_at, 64)
        self.status.record(attempt)
        self.status.gateways = tuple(sorted(candidate.snapshots))
        self.status.snapshot_versions = {g: s.version for g, s in candidate.snapshots.items()}
        self.metrics.config_reloads.labels(result="served").inc()
        self.metrics.snapshot_build_seconds.observe(attempt.build_seconds)
        self.metrics.set_config_version(attempt.version)
        self._log.info(
            "serving %s (%s; %d gateway(s) changed, %d file(s) re-read, built in %.1f ms)",
            attempt.version,
            attempt.trigger,
            len(changed),
            candidate.outcome.reparsed,
            attempt.build_seconds * 1000,
        )


def _keep_recent(mapping: dict[str, float], size: int) -> None:
    while len(mapping) > size:
        mapping.pop(next(iter(mapping)))
