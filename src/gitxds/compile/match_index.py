"""Duplicate route matches, kept up to date route by route (see :func:`.conflicts.duplicate_matches`).

A route is refused when one of its matches is already claimed, on the same gateway and host, by an
earlier route (by name) that is not refused itself. The index keeps, per claimed (gateway, host,
match), the routes claiming it in name order, so a changed route is judged again against the few
routes sharing its claims, and a change of verdict (or of claims) is passed on only to the later
routes sharing them, in name order, each judged once.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Mapping

from gitxds import ir
from gitxds.compile.conflicts import Claim, ClaimKey, judge_route, route_claims
from gitxds.config import Document
from gitxds.errors import Diagnostic

__all__ = ["MatchIndex"]


class MatchIndex:
    """The match claims of every compiled route and the verdict on each. Not thread-safe."""

    def __init__(self) -> None:
        self._documents: dict[str, Document] = {}
        self._claims: dict[str, tuple[Claim, ...]] = {}
        self._rules: dict[str, dict[ClaimKey, str]] = {}  # route -> claim -> its first rule claiming it
        self._claimants: dict[ClaimKey, list[str]] = {}  # claim -> routes claiming it, by name
        self._accepted: set[str] = set()
        self.conflicts: dict[str, list[Diagnostic]] = {}  # refused route -> why

    def update(self, changed: Mapping[str, tuple[Document, ir.Route] | None]) -> set[str]:
        """Routes compiled again (``None``: no longer compiled) -> the routes judged again."""
        first = not self._claims
        moved: dict[str, set[ClaimKey]] = {}  # route -> claims it gave up or took
        for name, entry in changed.items():
            moved[name] = self._reindex(name, entry)
        if first:  # every route is judged, in name order: nothing to pass on
            for name in sorted(changed):
                self._judge(name)
            return set(changed)
        pending = list(changed)
        heapq.heapify(pending)
        judged: set[str] = set()
        while pending:
            name = heapq.heappop(pending)
            if name in judged:
                continue
            judged.add(name)
            was_owner = name in self._accepted
            self._judge(name)
            is_owner = name in self._accepted
            keys = moved.get(name, set()) if is_owner and was_owner else set()
            if was_owner != is_owner:
                keys = moved.get(name, set()) | set(self._rules.get(name, ()))
            for key in keys:
                for later in self._claimants.get(key, ()):
                    if later > name and later not in judged:
                        heapq.heappush(pending, later)
        return judged

    def _reindex(self, name: str, entry: tuple[Document, ir.Route] | None) -> set[ClaimKey]:
        old = self._claims.pop(name, ())
        old_keys = set(self._rules.pop(name, {}))
        self._documents.pop(name, None)
        if entry is None:
            new: tuple[Claim, ...] = ()
        else:
            document, route = entry
            new = route_claims(route)
            self._documents[name] = document
            self._claims[name] = new
            rules: dict[ClaimKey, str] = {}
            for _, _, key, rule_name in new:
                rules.setdefault(key, rule_name)
            self._rules[name] = rules
        new_keys = set(self._rules.get(name, ()))
        for key in old_keys - new_keys:
            claimants = self._claimants[key]
            claimants.remove(name)
            if not claimants:
                del self._claimants[key]
        for key in new_keys - old_keys:
            bisect.insort(self._claimants.setdefault(key, []), name)
        return old_keys ^ new_keys if old == new else old_keys | new_keys

    def _judge(self, name: str) -> None:
        """The verdict of :func:`.conflicts.duplicate_matches` on one route, earlier routes settled."""
        self._accepted.discard(name)
        self.conflicts.pop(name, None)
        if name not in self._claims:
            return
        problems, _ = judge_route(
            self._documents[name], self._claims[name], lambda key: self._owner_before(key, name)
        )
        if problems:
            self.conflicts[name] = problems
        else:
            self._accepted.add(name)

    def _owner_before(self, key: ClaimKey, name: str) -> str | None:
        for other in self._claimants[key]:
            if other >= name:
                return None
            if other in self._accepted:
                return self._rules[other][key]
        return None
