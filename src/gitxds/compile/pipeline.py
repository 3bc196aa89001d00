"""Valid documents -> ir.Model. Objects with problems are dropped; everything else still compiles."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from gitxds import ir
from gitxds.compile.backends import compile_backend
from gitxds.compile.conflicts import duplicate_matches, duplicate_proxies
from gitxds.compile.policies import compile_auth_policy, compile_gateway, compile_rate_limit_policy
from gitxds.compile.references import References
from gitxds.compile.result import CompileResult, Dropped
from gitxds.compile.rollout import compile_rollout_policy, routes_in_two_policies
from gitxds.compile.routes import compile_route
from gitxds.config import Document, LoadedConfig, Rejected, load_directory
from gitxds.config.schema import KINDS, BackendObject
from gitxds.errors import Diagnostic

__all__ = ["compile_directory", "compile_documents", "compile_loaded"]

T = TypeVar("T")
N = TypeVar("N", ir.Gateway, ir.Route, ir.RolloutPolicy)
Compiler = Callable[[Document, References], tuple[T | None, list[Diagnostic]]]
ConflictFinder = Callable[[list[tuple[Document, N]]], dict[str, list[Diagnostic]]]


def compile_directory(root: Path) -> CompileResult:
    """Load every config file under ``root`` and compile it; diagnostics of both stages, sorted."""
    return compile_loaded(load_directory(root))


def compile_loaded(loaded: LoadedConfig) -> CompileResult:
    """One build from scratch (an update after an edit: :class:`.incremental.IncrementalCompiler`)."""
    result = compile_documents(loaded.documents, rejected=loaded.rejected)
    diagnostics = tuple(sorted((*loaded.diagnostics, *result.diagnostics), key=Diagnostic.sort_key))
    return CompileResult(result.model, diagnostics, result.dropped)


def compile_documents(documents: Iterable[Document], rejected: Iterable[Rejected] = ()) -> CompileResult:
    """Compile valid documents; references to ``rejected`` ones (from loading) are DependencyDropped."""
    run = _Run(documents, rejected)
    backends = run.compile_kind("Backend", _backend)
    rate_limits = run.compile_kind("RateLimitPolicy", compile_rate_limit_policy)
    auths = run.compile_kind("AuthPolicy", compile_auth_policy)
    gateways = run.without_conflicts(
        "Gateway", run.compile_kind("Gateway", compile_gateway), duplicate_proxies
    )
    gateway_by_name = {gateway.name: gateway for _, gateway in gateways}
    routes = run.compile_kind("Route", lambda document, refs: compile_route(document, refs, gateway_by_name))
    routes = run.without_conflicts("Route", routes, duplicate_matches)
    rollouts = run.without_conflicts(
        "RolloutPolicy", run.compile_kind("RolloutPolicy", compile_rollout_policy), routes_in_two_policies
    )
    model = ir.Model(
        gateways=_values(gateways),
        backends=_values(backends),
        routes=_values(routes),
        rate_limit_policies=_values(rate_limits),
        auth_policies=_values(auths),
        rollout_policies=_values(rollouts),
    )
    ordered = sorted(run.diagnostics, key=Diagnostic.sort_key)
    dropped = sorted(run.dropped, key=lambda d: (d.kind, d.name, d.file))
    return CompileResult(model, tuple(ordered), tuple(dropped))


class _Run:
    """The state of one compile: documents by kind, names that resolve, diagnostics, dropped objects."""

    def __init__(self, documents: Iterable[Document], rejected: Iterable[Rejected]) -> None:
        self.by_kind: dict[str, list[Document]] = {}
        for document in sorted(documents, key=lambda d: (d.kind, d.name, d.file, d.line)):
            self.by_kind.setdefault(document.kind, []).append(document)
        self.refs = References()
        self.dropped = [
            Dropped(r.kind, r.name, r.file, r.reason) for r in rejected if r.name and r.kind in KINDS
        ]
        for entry in self.dropped:
            self.refs.drop(entry.kind, entry.name)
        self.diagnostics: list[Diagnostic] = []

    def compile_kind(self, kind: str, compiler: Compiler[T]) -> list[tuple[Document, T]]:
        compiled = []
        for document in self.by_kind.get(kind, []):
            value, problems = compiler(document, self.refs)
            if value is None:
                self._drop(kind, document, problems)
                continue
            compiled.append((document, value))
            self.refs.add(kind, document.name)
        return compiled

    def without_conflicts(
        self, kind: str, compiled: list[tuple[Document, N]], find: ConflictFinder[N]
    ) -> list[tuple[Document, N]]:
        conflicts = find(compiled)
        for document, _ in compiled:
            if document.name in conflicts:
                self._drop(kind, document, conflicts[document.name])
        return [(document, value) for document, value in compiled if document.name not in conflicts]

    def _drop(self, kind: str, document: Document, problems: list[Diagnostic]) -> None:
        self.diagnostics.extend(problems)
        self.dropped.append(Dropped(kind, document.name, document.file, problems[0].reason))
        self.refs.drop(kind, document.name)


def _backend(document: Document, refs: References) -> tuple[ir.Backend | None, list[Diagnostic]]:
    assert isinstance(document.obj, BackendObject)
    return compile_backend(document.obj), []


def _values(pairs: list[tuple[Document, T]]) -> tuple[T, ...]:
    return tuple(value for _, value in pairs)
