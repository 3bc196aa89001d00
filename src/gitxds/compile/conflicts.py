"""Objects that can never take effect because an earlier one already claims the same thing.

A rule whose match an earlier rule has on the same host and gateway is never used; a gateway whose
proxy selector equals an earlier gateway's never reaches an Envoy (each Envoy receives one gateway).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable

from gitxds import ir
from gitxds.config import Document
from gitxds.config.yamlread import FieldPath
from gitxds.errors import Diagnostic, Reason

__all__ = ["Claim", "ClaimKey", "duplicate_matches", "duplicate_proxies", "judge_route", "route_claims"]

_ANY_HOST = "*"
_DEFAULT_PATH = ir.PathMatch(ir.PathMatchKind.PREFIX, "/")


def duplicate_proxies(gateways: Iterable[tuple[Document, ir.Gateway]]) -> dict[str, list[Diagnostic]]:
    """Gateway name -> diagnostics, for gateways selecting the same proxies as one earlier by name."""
    claimed: dict[tuple[str | None, str | None], str] = {}
    found: dict[str, list[Diagnostic]] = {}
    for document, gateway in sorted(gateways, key=lambda pair: pair[1].name):
        owner = claimed.setdefault((gateway.proxies.cluster, gateway.proxies.node_id), gateway.name)
        if owner != gateway.name:
            selector = gateway.proxies
            what = (
                f"nodeId {selector.node_id}"
                if selector.node_id is not None
                else f"cluster {selector.cluster}"
            )
            message = (
                f'gateway "{owner}" already selects the proxies with {what}; an Envoy receives one gateway, '
                "so put these listeners into that gateway or select other proxies"
            )
            found[gateway.name] = [
                document.diagnostic(("spec", "proxies"), Reason.DUPLICATE_PROXIES, message)
            ]
    return found


ClaimKey = tuple[str, str, Hashable]  # (gateway, host, normalized match)
Claim = tuple[int, int | None, ClaimKey, str]  # rule index, match position, key, rule


def route_claims(route: ir.Route) -> tuple[Claim, ...]:
    """Every (gateway, host, match) a route's rules claim, in rule and match order."""
    claims: list[Claim] = []
    for index, rule in enumerate(route.rules):
        for position, match in _matches(rule):
            claims.extend((index, position, key, rule.name) for key in _keys(route, match))
    return tuple(claims)


def duplicate_matches(routes: Iterable[tuple[Document, ir.Route]]) -> dict[str, list[Diagnostic]]:
    """Route name -> diagnostics, for routes that repeat a match already claimed (routes in name order).

    A route with a duplicate is dropped, so its other matches do not claim anything. A build that
    keeps this up to date edit by edit uses :class:`.match_index.MatchIndex` instead.
    """
    claimed: dict[ClaimKey, str] = {}
    found: dict[str, list[Diagnostic]] = {}
    for document, route in sorted(routes, key=lambda pair: pair[1].name):
        problems, own = judge_route(document, route_claims(route), claimed.get)
        if problems:
            found[route.name] = problems
        else:
            claimed.update(own)
    return found


def judge_route(
    document: Document, claims: Iterable[Claim], owner_before: Callable[[ClaimKey], str | None]
) -> tuple[list[Diagnostic], dict[ClaimKey, str]]:
    """One route's duplicate matches, given the rule of an earlier route owning a claim; and, when it
    has none, what it claims (claim -> rule)."""
    own: dict[ClaimKey, str] = {}
    problems = []
    reported = None  # one problem per match is enough
    for index, position, key, rule_name in claims:
        if reported == (index, position):
            continue
        owner = owner_before(key) or own.get(key)
        if owner is not None:
            problems.append(_diagnostic(document, index, position, key, owner))
            reported = (index, position)
            continue
        own[key] = rule_name
    return problems, own


def _matches(rule: ir.Rule) -> list[tuple[int | None, ir.Match]]:
    if not rule.matches:
        return [(None, ir.Match())]
    return list(enumerate(rule.matches))


def _keys(route: ir.Route, match: ir.Match) -> list[tuple[str, str, Hashable]]:
    path = match.path or _DEFAULT_PATH
    normalized = (
        (path.kind, path.value),  # a plain tuple hashes in C; the dataclass's hash is Python code
        tuple(sorted(match.headers, key=repr)) if match.headers else (),
        tuple(sorted(set(match.methods))) if match.methods else (),
        match.model,
    )
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
