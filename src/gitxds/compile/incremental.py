"""Incremental compile: after an edit, only the objects it touched compile again, and what depends on them.

The choice is dependency tracking rather than a memo walked over every document. The loader's
:class:`~gitxds.config.merge.Merge` says which names (kind, name) an edit touched: a document added,
removed or replaced, or a duplicate appearing or going. :class:`IncrementalCompiler` keeps, per name,
the outcome of its last compile (the IR object, or the problems that dropped it) and a reverse index
of what each compile read: the names it looked up, and for a name that did not resolve, that it
listed the names of that kind that do. An update compiles the touched names, kind by kind in the
order a cold build uses (no kind refers to its own kind, so every name a compile looks up is settled
before it runs), and when a name's outcome as others see it changes, what read it joins the work:

- a name's status (compiled, dropped, or not defined at all) changes: every compile that looked it up;
- a gateway's default policies change (the one thing a route reads from a gateway it is bound to,
  :func:`~gitxds.compile.routes.gateway_defaults`): the routes bound to it;
- the set of compiled names of a kind changes: the failed compiles whose message lists those names.

Conflicts are settled only for what changed: duplicate route matches through an index from each
(gateway, host, match) to the routes claiming it (:class:`~gitxds.compile.match_index.MatchIndex`);
gateways and rollout policies, few by nature, are checked again as a whole when one of them changed.

The model reuses what did not change: an object compiled again to an equal value stays the very same
object, and a kind where nothing changed keeps the very same tuple, so the stages after compile can
tell what changed by identity. Tuples are in name order, as a cold build gives them. Diagnostics and
dropped objects are put together again only when one of them changed (their number is that of the
problems, not of the config). Every step computes what a cold build computes for that name from the
same inputs, so the result is the cold build's; a property test (tests/unit/test_incremental_build.py)
checks it over random edit sequences.
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from gitxds import ir
from gitxds.compile.backends import compile_backend
from gitxds.compile.conflicts import duplicate_proxies
from gitxds.compile.match_index import MatchIndex
from gitxds.compile.policies import compile_auth_policy, compile_gateway, compile_rate_limit_policy
from gitxds.compile.references import References
from gitxds.compile.result import CompileResult, Dropped
from gitxds.compile.rollout import compile_rollout_policy, routes_in_two_policies
from gitxds.compile.routes import compile_route, gateway_defaults
from gitxds.config import KINDS, Document
from gitxds.config.merge import Key, Merge
from gitxds.config.schema import BackendObject
from gitxds.errors import Diagnostic

__all__ = ["IncrementalCompiler"]

ORDER = ("Backend", "RateLimitPolicy", "AuthPolicy", "Gateway", "Route", "RolloutPolicy")
_AVAILABLE, _DROPPED = "available", "dropped"  # a name in neither is not defined
Compiler = Callable[[Document, References], tuple[Any, list[Diagnostic]]]


@dataclass(slots=True)
class _Outcome:
    """The last compile of one name's document."""

    document: Document
    value: Any  # the IR object; None when it did not compile
    problems: list[Diagnostic]  # why it did not compile
    looked_up: tuple[Key, ...]  # may repeat a name
    listed: frozenset[str]  # kinds whose names its problems list
    conflicts: list[Diagnostic]  # why it compiled but is refused (settled after its kind compiled)

    @property
    def available(self) -> bool:
        return self.value is not None and not self.conflicts


class _Column:
    """One model tuple: the compiled objects of a kind in name order, rebuilt only when one changed."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.values: list[Any] = []
        self.by_name: dict[str, Any] = {}
        self.as_tuple: tuple[Any, ...] = ()

    def set(self, changes: dict[str, Any]) -> None:
        """``changes``: name -> object, or None to leave the name out."""
        by_name = self.by_name
        for name, value in changes.items():
            if value is None:
                by_name.pop(name, None)
            else:
                by_name[name] = value
        if len(changes) > len(self.names) // 8:  # many: one sort beats many inserts
            self.names = sorted(by_name)
            self.values = [by_name[name] for name in self.names]
        else:
            for name, value in changes.items():
                self._set_one(name, value)
        self.as_tuple = tuple(self.values)

    def _set_one(self, name: str, value: Any) -> None:
        at = bisect.bisect_left(self.names, name)
        present = at < len(self.names) and self.names[at] == name
        if value is None:
            if present:
                del self.names[at], self.values[at]
        elif present:
            self.values[at] = value
        else:
            self.names.insert(at, name)
            self.values.insert(at, value)


class IncrementalCompiler:
    """Compiles a :class:`Merge` again after each load, doing the work the change calls for."""

    def __init__(self) -> None:
        self._outcomes: dict[str, dict[str, _Outcome]] = {kind: {} for kind in ORDER}
        self._seen: dict[Key, tuple[str, Hashable]] = {}  # status (and what readers read) by name
        self._readers: dict[Key, set[Key]] = {}  # name -> names whose compile looked it up
        self._listers: dict[str, set[Key]] = {kind: set() for kind in ORDER}  # kind -> who lists its names
        self._refs = References()
        self._gateways: dict[str, ir.Gateway] = {}  # compiled gateways, for routes
        self._matches = MatchIndex()
        self._columns = {kind: _Column() for kind in ORDER}
        self._problems_changed = True
        self._compile_diagnostics: tuple[Diagnostic, ...] = ()
        self._compile_dropped: list[Dropped] = []
        self._result: CompileResult | None = None
        self._load_problems: tuple[tuple[Diagnostic, ...], tuple[Any, ...]] = ((), ())
        self.compiled = 0  # documents compiled in the last update

    def update(self, merge: Merge, changed: Iterable[Key]) -> CompileResult:
        """The compile of ``merge``'s documents; ``changed``: every name whose documents changed since
        the previous update (all of them on the first)."""
        self.compiled = 0
        dirty: dict[str, set[str]] = {kind: set() for kind in ORDER}
        for kind, name in changed:
            if kind in dirty:
                dirty[kind].add(name)
        model_changed = False
        for kind in ORDER:
            if dirty[kind]:
                model_changed |= self._update_kind(kind, dirty[kind], merge, dirty)
        return self._assemble(merge, model_changed)

    def _update_kind(self, kind: str, names: set[str], merge: Merge, dirty: dict[str, set[str]]) -> bool:
        outcomes = self._outcomes[kind]
        compiler = self._compiler(kind)
        recompiled: dict[str, _Outcome | None] = {}
        for name in names:
            old = outcomes.get(name)
            new = self._compile((kind, name), merge.winner((kind, name)), old, compiler)
            if new is None:
                outcomes.pop(name, None)
            else:
                outcomes[name] = new
            recompiled[name] = new
            self._problems_changed |= _has_problems(old) or _has_problems(new)
        settled = names | self._settle_conflicts(kind, recompiled)
        changes: dict[str, Any] = {}
        for name in settled:
            self._settle_name(kind, name, merge, dirty, changes)
        if changes:
            self._columns[kind].set(changes)
        return bool(changes)

    def _compiler(self, kind: str) -> Compiler:
        if kind == "Route":
            return lambda document, refs: compile_route(document, refs, self._gateways)
        return _COMPILERS[kind]

    def _compile(
        self, key: Key, document: Document | None, old: _Outcome | None, compiler: Compiler
    ) -> _Outcome | None:
        if old is not None:
            self._unlink(key, old)
        if document is None:
            return None
        refs = self._refs
        refs.looked_up.clear()
        value, problems = compiler(document, refs)
        self.compiled += 1
        if value is not None and old is not None and old.value == value:
            value = old.value  # equal: the very same object, so later stages see no change
        looked_up = tuple(refs.looked_up)
        listed = (
            frozenset(kind for kind, name in looked_up if (kind, name) not in self._seen)
            if problems
            else frozenset()
        )
        outcome = _Outcome(document, value, problems, looked_up, listed, [])
        for used in looked_up:
            self._readers.setdefault(used, set()).add(key)
        for kind in listed:
            self._listers[kind].add(key)
        return outcome

    def _unlink(self, key: Key, old: _Outcome) -> None:
        for used in old.looked_up:
            readers = self._readers.get(used)
            if readers is not None:
                readers.discard(key)
                if not readers:
                    del self._readers[used]
        for kind in old.listed:
            self._listers[kind].discard(key)

    def _settle_conflicts(self, kind: str, recompiled: dict[str, _Outcome | None]) -> set[str]:
        """Refuse the objects that conflict with earlier ones; the names whose verdict was settled again."""
        outcomes = self._outcomes[kind]
        if kind == "Route":
            changed = {
                name: (new.document, new.value) if new is not None and new.value is not None else None
                for name, new in recompiled.items()
            }
            judged = self._matches.update(changed)
            for name in judged:
                if name in outcomes:
                    self._set_conflicts(outcomes[name], self._matches.conflicts.get(name, []))
            return judged
        finder = _CONFLICTS.get(kind)
        if finder is None:
            return set()
        compiled = [(o.document, o.value) for _, o in sorted(outcomes.items()) if o.value is not None]
        found = finder(compiled)
        settled = set()
        for name, outcome in outcomes.items():
            if self._set_conflicts(outcome, found.get(name, [])) or name in recompiled:
                settled.add(name)
        return settled

    def _set_conflicts(self, outcome: _Outcome, conflicts: list[Diagnostic]) -> bool:
        if conflicts == outcome.conflicts:
            return False
        outcome.conflicts = conflicts
        self._problems_changed = True
        return True

    def _settle_name(
        self, kind: str, name: str, merge: Merge, dirty: dict[str, set[str]], changes: dict[str, Any]
    ) -> None:
        """Publish one name's new outcome: to references, to the model and to whatever read it."""
        key = (kind, name)
        outcome = self._outcomes[kind].get(name)
        value = outcome.value if outcome is not None and outcome.available else None
        if value is not None:
            seen: tuple[str, Hashable] | None = (
                _AVAILABLE,
                _FACETS[kind](value) if kind in _FACETS else None,
            )
        elif outcome is not None or merge.claimed(key):
            seen = (_DROPPED, None)
        else:
            seen = None
        before = self._seen.get(key)
        if kind == "Gateway":
            if value is None:
                self._gateways.pop(name, None)
            else:
                self._gateways[name] = value
        if self._columns[kind].by_name.get(name) is not value:
            changes[name] = value
        if seen == before:
            return
        if seen is None:
            del self._seen[key]
        else:
            self._seen[key] = seen
        self._refs.forget(kind, name)
        if value is not None:
            self._refs.add(kind, name)
        elif seen is not None:
            self._refs.drop(kind, name)
        for reader_kind, reader in self._readers.get(key, ()):
            dirty[reader_kind].add(reader)
        if (before is not None and before[0] == _AVAILABLE) != (value is not None):
            for reader_kind, reader in self._listers[kind]:  # the names a failed lookup lists changed
                dirty[reader_kind].add(reader)

    def _assemble(self, merge: Merge, model_changed: bool) -> CompileResult:
        load_problems = (merge.diagnostics, merge.rejected)
        previous = self._result
        same_load_problems = all(map(operator.is_, load_problems, self._load_problems))
        if previous is not None and not model_changed and not self._problems_changed and same_load_problems:
            return previous
        if self._problems_changed:
            self._collect_problems()
        model = (
            ir.Model(
                gateways=self._columns["Gateway"].as_tuple,
                backends=self._columns["Backend"].as_tuple,
                routes=self._columns["Route"].as_tuple,
                rate_limit_policies=self._columns["RateLimitPolicy"].as_tuple,
                auth_policies=self._columns["AuthPolicy"].as_tuple,
                rollout_policies=self._columns["RolloutPolicy"].as_tuple,
            )
            if previous is None or model_changed
            else previous.model
        )
        diagnostics = tuple(sorted((*merge.diagnostics, *self._compile_diagnostics), key=Diagnostic.sort_key))
        load_dropped = [
            Dropped(r.kind, r.name, r.file, r.reason) for r in merge.rejected if r.name and r.kind in KINDS
        ]
        dropped = sorted([*load_dropped, *self._compile_dropped], key=lambda d: (d.kind, d.name, d.file))
        self._load_problems = load_problems
        self._result = CompileResult(model, diagnostics, tuple(dropped))
        return self._result

    def _collect_problems(self) -> None:
        """Diagnostics and dropped objects in the order a cold build finds them: by kind, failed compiles
        by name, then conflicts by name."""
        diagnostics: list[Diagnostic] = []
        dropped: list[Dropped] = []
        for kind in ORDER:
            outcomes = self._outcomes[kind]
            failed = sorted(name for name, o in outcomes.items() if o.problems)
            refused = sorted(name for name, o in outcomes.items() if o.conflicts and o.value is not None)
            for names, problems_of in ((failed, _problems), (refused, _conflicts)):
                for name in names:
                    outcome = outcomes[name]
                    problems = problems_of(outcome)
                    diagnostics.extend(problems)
                    dropped.append(Dropped(kind, name, outcome.document.file, problems[0].reason))
        self._compile_diagnostics = tuple(sorted(diagnostics, key=Diagnostic.sort_key))
        self._compile_dropped = dropped
        self._problems_changed = False


def _problems(outcome: _Outcome) -> list[Diagnostic]:
    return outcome.problems


def _conflicts(outcome: _Outcome) -> list[Diagnostic]:
    return outcome.conflicts


def _has_problems(outcome: _Outcome | None) -> bool:
    return outcome is not None and bool(outcome.problems or outcome.conflicts)


def _backend(document: Document, refs: References) -> tuple[ir.Backend | None, list[Diagnostic]]:
    assert isinstance(document.obj, BackendObject)
    return compile_backend(document.obj), []


_COMPILERS: dict[str, Compiler] = {
    "Backend": _backend,
    "RateLimitPolicy": compile_rate_limit_policy,
    "AuthPolicy": compile_auth_policy,
    "Gateway": compile_gateway,
    "RolloutPolicy": compile_rollout_policy,
}
_CONFLICTS: dict[str, Callable[[list[tuple[Document, Any]]], dict[str, list[Diagnostic]]]] = {
    "Gateway": duplicate_proxies,
    "RolloutPolicy": routes_in_two_policies,
}
_FACETS: dict[str, Callable[[Any], Hashable]] = {"Gateway": gateway_defaults}
