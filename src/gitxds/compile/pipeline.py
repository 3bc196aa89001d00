"""Valid documents -> ir.Model. Objects with problems are dropped; everything else still compiles."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from gitxds import ir
from gitxds.compile.backends import compile_backend
from gitxds.compile.conflicts import duplicate_matches
from gitxds.compile.policies import compile_auth_policy, compile_gateway, compile_rate_limit_policy
from gitxds.compile.references import References
from gitxds.compile.result import CompileResult, Dropped
from gitxds.compile.routes import compile_route
from gitxds.config import Document, LoadedConfig, Rejected, load_directory
from gitxds.config.schema import BackendObject
from gitxds.errors import Diagnostic

__all__ = ["compile_directory", "compile_documents", "compile_loaded"]

T = TypeVar("T")
Compiler = Callable[[Document, References], tuple[T | None, list[Diagnostic]]]


def compile_directory(root: Path) -> CompileResult:
    """Load every config file under ``root`` and compile it; diagnostics of both stages, sorted."""
    return compile_loaded(load_directory(root))


def compile_loaded(loaded: LoadedConfig) -> CompileResult:
    result = compile_documents(loaded.documents, rejected=loaded.rejected)
    diagnostics = tuple(sorted((*loaded.diagnostics, *result.diagnostics), key=Diagnostic.sort_key))
    return CompileResult(result.model, diagnostics, result.dropped)


def compile_documents(documents: Iterable[Document], rejected: Iterable[Rejected] = ()) -> CompileResult:
    """Compile valid documents; references to ``rejected`` ones (from loading) are DependencyDropped."""
    by_kind: dict[str, list[Document]] = {}
    for document in sorted(documents, key=lambda d: (d.kind, d.name, d.file, d.line)):
        by_kind.setdefault(document.kind, []).append(document)
    refs = References()
    dropped = [Dropped(r.kind, r.name, r.file, r.reason) for r in rejected if r.name and r.kind]
    for entry in dropped:
        refs.drop(entry.kind, entry.name)
    diagnostics: list[Diagnostic] = []

    def run(kind: str, compiler: Compiler[T]) -> list[tuple[Document, T]]:
        compiled = []
        for document in by_kind.get(kind, []):
            value, problems = compiler(document, refs)
            if value is None:
                diagnostics.extend(problems)
                dropped.append(Dropped(kind, document.name, document.file, problems[0].reason))
                refs.drop(kind, document.name)
            else:
                compiled.append((document, value))
                refs.add(kind, document.name)
        return compiled

    backends = run("Backend", _backend)
    rate_limits = run("RateLimitPolicy", compile_rate_limit_policy)
    auths = run("AuthPolicy", compile_auth_policy)
    gateways = run("Gateway", compile_gateway)
    gateway_by_name = {gateway.name: gateway for _, gateway in gateways}
    routes = run("Route", lambda document, refs: compile_route(document, refs, gateway_by_name))
    conflicts = duplicate_matches(routes)
    kept_routes = []
    for document, route in routes:
        if route.name in conflicts:
            diagnostics.extend(conflicts[route.name])
            dropped.append(Dropped("Route", route.name, document.file, conflicts[route.name][0].reason))
        else:
            kept_routes.append(route)
    model = ir.Model(
        gateways=_values(gateways),
        backends=_values(backends),
        routes=tuple(kept_routes),
        rate_limit_policies=_values(rate_limits),
        auth_policies=_values(auths),
    )
    ordered = sorted(diagnostics, key=Diagnostic.sort_key)
    return CompileResult(
        model, tuple(ordered), tuple(sorted(dropped, key=lambda d: (d.kind, d.name, d.file)))
    )


def _backend(document: Document, refs: References) -> tuple[ir.Backend | None, list[Diagnostic]]:
    assert isinstance(document.obj, BackendObject)
    return compile_backend(document.obj), []


def _values(pairs: list[tuple[Document, T]]) -> tuple[T, ...]:
    return tuple(value for _, value in pairs)
