"""Rules that can never match because an earlier rule has the same match on the same host and gateway."""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from gitxds import ir
from gitxds.config import Document
from gitxds.config.yamlread import FieldPath
from gitxds.errors import Diagnostic, Reason

__all__ = ["duplicate_matches"]

_ANY_HOST = "*"


def duplicate_matches(routes: Iterable[tuple[Document, ir.Route]]) -> dict[str, list[Diagnostic]]:
    """Route name -> diagnostics, for routes that repeat a match already claimed (routes in name order).

    A route with a duplicate is dropped, so its other matches do not claim anything.
    """
    claimed: dict[tuple[str, str, Hashable], str] = {}
    found: dict[str, list[Diagnostic]] = {}
    for document, route in sorted(routes, key=lambda pair: pair[1].name):
        own: dict[tuple[str, str, Hashable], str] = {}
        problems = []
        for index, rule in enumerate(route.rules):
            for position, match in _matches(rule):
                for key in _keys(route, match):
                    owner = claimed.get(key) or own.get(key)
                    if owner is not None:
                        problems.append(_diagnostic(document, index, position, key, owner))
                        break
                    own[key] = rule.name
        if problems:
            found[route.name] = problems
        else:
            claimed.update(own)
    return found


def _matches(rule: ir.Rule) -> list[tuple[int | None, ir.Match]]:
    if not rule.matches:
        return [(None, ir.Match())]
    return list(enumerate(rule.matches))


def _keys(route: ir.Route, match: ir.Match) -> list[tuple[str, str, Hashable]]:
    path = match.path or ir.PathMatch(ir.PathMatchKind.PREFIX, "/")
    normalized = (path, tuple(sorted(match.headers, key=repr)), tuple(sorted(set(match.methods))))
    hosts = route.hostnames or (_ANY_HOST,)
    return [(gateway, host, normalized) for gateway in route.gateways for host in hosts]


def _diagnostic(
    document: Document, index: int, position: int | None, key: tuple[str, str, Hashable], owner: str
) -> Diagnostic:
    gateway, host, _ = key
    path: FieldPath = ("spec", "rules", index)
    if position is not None:
        path = (*path, "matches", position)
    message = (
        f'rule {owner} already has this match for host "{host}" on gateway "{gateway}"; '
        "this rule would never be used"
    )
    return document.diagnostic(path, Reason.DUPLICATE_MATCH, message)
