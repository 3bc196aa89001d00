"""The one writer of the snapshot cache and of the config status.

Every change reaches proxies through here, as a new value of one of the writer's inputs (see
:mod:`gitxds.gitops.inputs`): the config directory and the secret store (:meth:`Reconciler.reload`),
the endpoints discovered for Kubernetes backends (:meth:`Reconciler.set_endpoints`, which rebuilds
only the affected endpoint assignments), or any other input (:meth:`Reconciler.apply`).

A version with any diagnostic is never served: the previous snapshots keep serving, and the
diagnostics are recorded against the commit, logged, counted and shown in status. Before a version
is published, a real Envoy checks the very resources about to be served when a binary is available:
the resident validator Envoy (:mod:`gitxds.gitops.resident_validator`) when it is up, else
``envoy --mode validate``. An error that is not a config problem (an unreadable file, a bug in a
step) fails that one reload: it is logged, counted and shown, and the next change reloads normally.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from gitxds import ir, typeurls
from gitxds.errors import Diagnostic, Reason
from gitxds.gcpause import build_paused
from gitxds.gitops.envoy_check import validate_bootstrap
from gitxds.gitops.inputs import Built, Inputs, build, kubernetes_sources
from gitxds.gitops.pipeline import IncrementalLoader, LoadOutcome
from gitxds.gitops.resident_validator import ResidentValidator
from gitxds.gitops.secrets import Secrets, SecretStore
from gitxds.gitops.settle import GRACE_SECONDS, TORN_RETRIES, Settle
from gitxds.gitops.status import Attempt, ConfigStatus, ReloadFailure
from gitxds.gitops.version import ConfigVersion
from gitxds.metrics import Metrics
from gitxds.rollout.controller import RolloutController
from gitxds.translators.xds import (
    SecretValues,
    TranslationMemo,
    UnknownSecretError,
    bootstrap_json,
    discovered_assignments,
    redacted_documents,
    resource_documents,
    static_bootstrap_of,
)
from gitxds.xds.cache import EncodingMemo, InconsistentSnapshotError, SnapshotCache, decode

# Told which Kubernetes sources the served model uses (discovery follows them and feeds set_endpoints).
FollowSources = Callable[[frozenset[ir.KubernetesEndpoints]], None]
Outcome = Attempt | ReloadFailure
T = TypeVar("T")
# How a read of the config dir is settled (see gitxds.gitops.settle): screened for a writer at work
# (a watcher's change), screened again after a hold (only while one is pending), or taken as it is.
SettleMode = Literal["screen", "again", "take"]


class _StepFailedError(Exception):
    def __init__(self, step: str, cause: Exception) -> None:
        super().__init__(step)
        self.step = step
        self.cause = cause


@contextmanager
def _step(name: str) -> Iterator[None]:
    """Names the step an unexpected error escaped from, for the log, the status and the metric."""
    try:
        yield
    except _StepFailedError:
        raise
    except Exception as exc:  # the reload boundary turns it into a ReloadFailure
        raise _StepFailedError(name, exc) from exc


@dataclass(frozen=True, slots=True)
class _Read:
    outcome: LoadOutcome
    version: str
    secrets: Secrets
    torn: tuple[str, ...] = ()  # files that still moved while the last retry read them


class Reconciler:
    """Owns the path from inputs to published snapshots. Use from the server's event loop."""

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
        wall_clock: Callable[[], float] = time.time,
        follow: FollowSources | None = None,
        rollouts: RolloutController | None = None,
        validator: ResidentValidator | None = None,
        write_grace: float = GRACE_SECONDS,
    ) -> None:
        self.config_dir = config_dir
        self.cache = cache
        self.metrics = metrics
        self.secrets = secrets
        self.envoy = envoy
        self.validator = validator  # checks candidates over xDS; envoy --mode validate when it is down
        self.status = ConfigStatus(str(config_dir))
        self.served: Inputs | None = None  # what the published snapshots were built from
        self.detected_at: dict[str, float] = {}  # config version -> when its change was detected
        self.endpoint_pushes = 0  # snapshots published by endpoints-only updates
        self._log = logger or logging.getLogger("gitxds.reconciler")
        self._clock = clock
        self._wall_clock = wall_clock
        self._follow = follow
        self._rollouts = rollouts  # rollout progress: an input of the build, like the files
        self._loader = IncrementalLoader(config_dir)
        self._version = ConfigVersion(config_dir)
        self._memo = EncodingMemo()
        self._translation = TranslationMemo()
        self._endpoints: dict[ir.KubernetesEndpoints, tuple[ir.Endpoint, ...]] = {}
        self._lock = asyncio.Lock()
        self._settle = Settle(clock, self._read_held_again, write_grace)
        cache.set_resolver(ir.Model().gateway_for_node)  # nothing served: no node has a gateway

    @property
    def model(self) -> ir.Model | None:
        """The model being served."""
        return self.served.model if self.served is not None else None

    # -- inputs ---------------------------------------------------------------------------------

    async def reload(self, trigger: str, detected_at: float | None = None) -> Outcome:
        """Read the config directory and the secret store as they are now; serve them if, and only
        if, they are entirely valid."""
        outcome = await self._serve(self._read, trigger, detected_at, restored=None, settle="take")
        assert outcome is not None  # only screened reads are held back
        return outcome

    async def files_changed(self, detected_at: float | None = None) -> Outcome | None:
        """A reload for a change the watcher saw. A read that shows a writer still at work is held
        back (None): read again on the next change, or taken after a grace period (see
        :mod:`gitxds.gitops.settle`)."""
        return await self._serve(self._read, "files changed", detected_at, restored=None, settle="screen")

    def close(self) -> None:
        """Forget a read held back (the server is stopping)."""
        self._settle.close()

    async def restore(self, directory: Path, version: str, trigger: str, restored: dict[str, Any]) -> Outcome:
        """Serve the config in ``directory`` (a past commit taken out of Git) as ``version``, with the
        same checks as a reload; ``restored`` says why, in status, until a reload serves something."""

        def read() -> _Read:
            return _Read(IncrementalLoader(directory).load(), version, self.secrets.read())

        outcome = await self._serve(read, trigger, None, restored=restored)
        assert outcome is not None  # only screened reads are held back
        return outcome

    async def _serve(
        self,
        read_now: Callable[[], _Read],
        trigger: str,
        detected_at: float | None,
        *,
        restored: dict[str, Any] | None,
        settle: SettleMode | None = None,
    ) -> Outcome | None:
        detected = self._clock() if detected_at is None else detected_at
        async with self._lock:
            if settle == "again" and self._settle.held_since is None:
                return None  # what was held back was superseded by a read taken since
            started = self._clock()
            try:
                with _step("read"):
                    read = await asyncio.to_thread(_paused, read_now)
                if settle is not None and self._held_back(read, detected, settle):
                    return None
                if read.outcome.diagnostics:
                    problems = read.outcome.diagnostics
                    return self._reject(self._attempt(read.version, trigger, problems, started))
                with _step("build"):
                    inputs = self._inputs(read)
                check = not self._only_weights_moved(inputs.version, trigger)
                reparsed = read.outcome.reparsed
                outcome = await self._rebuild(inputs, trigger, detected, started, reparsed, check=check)
            except _StepFailedError as failed:
                return self._fail(trigger, failed.step, failed.cause)
            if outcome.accepted:
                self.status.restored = restored
            return outcome

    async def apply(self, trigger: str, change: Callable[[Inputs], Inputs]) -> Outcome | None:
        """Rebuild what is served with some inputs replaced (no file is read); None before anything
        was served. For inputs that are not files, e.g. rollout progress."""
        async with self._lock:
            if self.served is None:
                return None
            started = self._clock()
            try:
                with _step("build"):
                    inputs = change(self.served)
                    self._endpoints.update(inputs.endpoints)  # endpoints given here are the latest known
                check = not self._only_weights_moved(inputs.version, trigger)
                return await self._rebuild(inputs, trigger, started, started, 0, check=check)
            except _StepFailedError as failed:
                return self._fail(trigger, failed.step, failed.cause)

    def set_endpoints(self, source: ir.KubernetesEndpoints, endpoints: Iterable[ir.Endpoint]) -> None:
        """New endpoints of one Kubernetes source: only the affected assignments are built again, and
        proxies are sent those and nothing else."""
        found = tuple(endpoints)
        if self._endpoints.get(source) == found:
            return
        self._endpoints[source] = found
        if self.served is None or source not in self.served.kubernetes_sources:
            return  # kept for the build that will use it
        try:
            with _step("endpoints"):
                self._push_endpoints({source})
        except _StepFailedError as failed:
            self._fail("endpoints changed", failed.step, failed.cause)

    # -- reading and building -------------------------------------------------------------------

    def _inputs(self, read: _Read) -> Inputs:
        model = read.outcome.compiled.model
        applied = self._rollouts.apply(model, read.version) if self._rollouts is not None else None
        sources = kubernetes_sources(model)
        endpoints = {s: self._endpoints[s] for s in sources if s in self._endpoints}
        served = applied.served if applied is not None else model
        return Inputs(read.version, served, read.secrets, endpoints, applied)

    def _only_weights_moved(self, version: str, trigger: str) -> bool:
        """A rollout step of the version Envoy already accepted changes route weights only."""
        served = self.status.served
        return trigger.startswith("rollout") and served is not None and served.version == version

    def _read(self) -> _Read:
        version = self._version.begin()
        outcome = self._loader.load()
        torn = self._loader.changed_since_read()
        for _ in range(TORN_RETRIES):
            if not torn:
                break
            # A writer was at work on these files while they were read: read them again, say nothing.
            self._log.debug("config read while %s changed; reading again", ", ".join(torn))
            self.metrics.config_reads_torn.inc()
            outcome = self._loader.load()
            torn = self._loader.changed_since_read()
        return _Read(outcome, version(outcome.files), self.secrets.read(), torn)

    def _held_back(self, read: _Read, detected: float, settle: SettleMode) -> bool:
        """Whether ``read`` is held back (screened reads only); any read taken ends a hold."""
        files = read.outcome.files
        if settle == "take":
            self._settle.take(files)
            return False
        refused = bool(read.outcome.diagnostics)
        held = self._settle.screen(files, detected, refused=refused, torn=read.torn)
        if held is None:
            return False
        reason, why = held
        self.metrics.config_reads_held.labels(reason=reason).inc()
        wait = self._settle.remaining() * 1000
        self._log.info("config read held back: %s; read again in %.0f ms unless it changes", why, wait)
        return True

    async def _read_held_again(self, detected: float) -> Outcome | None:
        return await self._serve(self._read, "files changed", detected, restored=None, settle="again")

    async def _rebuild(
        self,
        inputs: Inputs,
        trigger: str,
        detected: float,
        started: float,
        reparsed: int,
        *,
        check: bool = True,
    ) -> Attempt:
        problems: tuple[Diagnostic, ...] = ()
        built: Built | None = None
        with _step("build"):
            try:
                built = await asyncio.to_thread(
                    _paused,
                    build,
                    inputs,
                    self._memo,
                    self.cache.get,
                    keep_messages=check and bool(self.envoy),
                    translation=self._translation,
                )
                self._memo.retire()
            except UnknownSecretError as exc:
                problems = (Diagnostic("", 0, "", Reason.UNKNOWN_SECRET, str(exc)),)
            except InconsistentSnapshotError as exc:
                problems = (Diagnostic("", 0, "", Reason.ENVOY_REJECTED, str(exc)),)
        if built is not None and self.envoy and check:
            with _step("check"):
                problems = await self._envoy_check(built)
        attempt = self._attempt(inputs.version, trigger, problems, started)
        if problems or built is None:
            return self._reject(attempt)
        with _step("publish"):
            self._publish(built, attempt, detected, reparsed)
        return attempt

    def _attempt(
        self, version: str, trigger: str, problems: tuple[Diagnostic, ...], started: float
    ) -> Attempt:
        seconds = self._clock() - started
        return Attempt(version, self._wall_clock(), not problems, trigger, problems, seconds)

    async def _envoy_check(self, built: Built) -> tuple[Diagnostic, ...]:
        """Each gateway's candidate through the resident validator Envoy; a gateway it cannot tell
        about (it is down, or did not answer) through ``envoy --mode validate``."""
        redact = built.inputs.secrets.redact
        problems = []
        fallback = []
        for name, snapshot in built.snapshots.items():
            verdict = (
                await self.validator.check(snapshot, gateway=name) if self.validator is not None else None
            )
            if verdict is None:
                fallback.append(name)
            elif not verdict.accepted:
                message = f"Envoy rejected this config: {redact(verdict.message)}"
                problems.append(Diagnostic("", 0, f"Gateway {name}", Reason.ENVOY_REJECTED, message))
        self.status.envoy_check = self._envoy_check_mode(fallback)
        return (*problems, *await self._validate_mode_check(built, fallback))

    def _envoy_check_mode(self, fallback: list[str]) -> str:
        if not fallback:
            return "resident Envoy"
        reason = self.validator.down_reason if self.validator is not None else None
        why = reason or ("disabled" if self.validator is None else "it did not answer")
        return f"envoy --mode validate (resident Envoy not used: {why})"

    async def _validate_mode_check(self, built: Built, names: list[str]) -> tuple[Diagnostic, ...]:
        """The resources about to be served, inlined in a static bootstrap, real secrets included (in a
        private temporary file) so certificates are checked too."""
        assert self.envoy is not None
        model = built.inputs.model
        verdicts = await asyncio.gather(
            *(
                validate_bootstrap(
                    self.envoy, bootstrap_json(static_bootstrap_of(model.gateway(name), built.messages[name]))
                )
                for name in names
            )
        )
        redact = built.inputs.secrets.redact
        return tuple(
            Diagnostic(
                "",
                0,
                f"Gateway {name}",
                Reason.ENVOY_REJECTED,
                f"envoy --mode validate rejected this config: {redact(verdict.message)}",
            )
            for name, verdict in zip(names, verdicts, strict=True)
            if not verdict.accepted
        )

    # -- writing --------------------------------------------------------------------------------

    def _publish(self, built: Built, attempt: Attempt, detected: float, reparsed: int) -> None:
        self.cache.set_resolver(built.inputs.model.gateway_for_node)
        changed = []
        for gateway, snapshot in sorted(built.snapshots.items()):
            current = self.cache.get(gateway)
            if current is None or current.version != snapshot.version:
                changed.append(gateway)
                self.cache.set_snapshot(gateway, snapshot)
            elif current.config_version != snapshot.config_version:
                # Same resources from another commit: nothing is pushed, proxies now run this commit.
                self.cache.set_snapshot(gateway, snapshot)
        for gateway in set(self.cache.groups()) - set(built.snapshots):
            self.cache.clear_snapshot(gateway)
            changed.append(gateway)
        self.served = built.inputs
        if self._rollouts is not None and built.inputs.rollouts is not None:
            self._rollouts.commit(built.inputs.rollouts)
        self.detected_at[attempt.version] = detected
        _keep_recent(self.detected_at, 64)
        self.status.record(attempt)
        self.status.gateways = tuple(sorted(built.snapshots))
        self.status.snapshot_versions = {g: s.version for g, s in built.snapshots.items()}
        self.metrics.config_reloads.labels(result="served").inc()
        self.metrics.snapshot_build_seconds.observe(attempt.build_seconds)
        self.metrics.set_config_version(attempt.version)
        self._log.info(
            "serving %s (%s; %d gateway(s) changed, %d file(s) re-read, built in %.1f ms)",
            attempt.version,
            attempt.trigger,
            len(changed),
            reparsed,
            attempt.build_seconds * 1000,
        )
        self._follow_sources(built.inputs.kubernetes_sources)

    def _follow_sources(self, sources: frozenset[ir.KubernetesEndpoints]) -> None:
        """Drop endpoints of sources no longer used, let discovery follow the new ones, and push the
        endpoints that moved on while this version was being built."""
        for source in set(self._endpoints) - sources:
            del self._endpoints[source]
        if self._follow is not None:
            self._follow(sources)  # may call set_endpoints
        assert self.served is not None
        served = self.served.endpoints
        stale = {s for s in sources if self._endpoints.get(s, ()) != served.get(s, ())}
        if stale:
            self._push_endpoints(stale)

    def _push_endpoints(self, sources: set[ir.KubernetesEndpoints]) -> None:
        assert self.served is not None
        discovered = {**self.served.endpoints, **{s: self._endpoints.get(s, ()) for s in sources}}
        self.served = served = replace(self.served, endpoints=discovered)
        secrets = SecretValues.of(served.secrets.values)
        replacements = [
            self._memo.encode(typeurls.ENDPOINT, assignment)
            for source in sorted(sources, key=_source_order)
            for assignment in discovered_assignments(served.model, source, secrets, discovered)
        ]
        for gateway in self.cache.groups():
            current = self.cache.get(gateway)
            if current is None:
                continue
            updated = current.with_replaced(typeurls.ENDPOINT, replacements)
            if updated is not current:
                self.cache.set_snapshot(gateway, updated)
                self.status.snapshot_versions[gateway] = updated.version
                self.endpoint_pushes += 1

    def _reject(self, attempt: Attempt) -> Attempt:
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
        return attempt

    def _fail(self, trigger: str, step: str, exc: Exception) -> ReloadFailure:
        reason = "io_error" if isinstance(exc, OSError) else "internal_error"
        message = self.redact(f"{type(exc).__name__}: {exc}")
        failure = ReloadFailure(trigger, self._wall_clock(), step, reason, message)
        self.status.last_failure = failure
        self.status.failures += 1
        self.metrics.reload_failures.labels(reason=reason).inc()
        served = self.status.served.version if self.status.served else "nothing"
        # The frames, not the message again: they show code, never config or secret values.
        frames = "".join(traceback.format_tb(exc.__traceback__))
        self._log.error(
            "reload (%s) failed while %s: %s; still serving %s\n%s", trigger, step, message, served, frames
        )
        return failure

    # -- reading what is served -----------------------------------------------------------------

    def redact(self, text: str) -> str:
        """``text`` without any secret value being served or most recently read."""
        text = self.secrets.redact(text)
        return self.served.secrets.redact(text) if self.served is not None else text

    def documents(self, gateway: str) -> dict[str, list[dict[str, Any]]] | None:
        """The served resources of ``gateway`` as documents, secret values redacted."""
        snapshot = self.cache.get(gateway)
        if snapshot is None:
            return None
        messages: Mapping[str, list[Any]] = {
            type_url: [decode(resource) for resource in snapshot.resources(type_url)]
            for type_url in typeurls.PUSH_ORDER
        }
        return redacted_documents(resource_documents(messages), self.redact)


def _paused(step: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``step`` run with the collector paused and its survivors frozen: see :mod:`gitxds.gcpause`."""
    with build_paused():
        return step(*args, **kwargs)


def _source_order(source: ir.KubernetesEndpoints) -> tuple[str, str, int]:
    return source.namespace, source.service, source.port


def _keep_recent(mapping: dict[str, float], size: int) -> None:
    while len(mapping) > size:
        mapping.pop(next(iter(mapping)))
