"""Cross-field rules of a Route: gateways, weights, matches, timeouts, faults and header rewrites."""

from __future__ import annotations

from collections.abc import Iterator

from gitxds.config.checks_headers import check_header_ops
from gitxds.config.document import Issue
from gitxds.config.schema import RouteObject
from gitxds.config.schema_route import HeaderMatch, Match, ModelMatch, PathMatch, Rule
from gitxds.config.types import UINT32_MAX
from gitxds.config.yamlread import FieldPath
from gitxds.errors import Reason

__all__ = ["check_route"]


def check_route(obj: RouteObject) -> Iterator[Issue]:
    spec = obj.spec
    if not spec.gateways:
        yield Issue(
            ("spec", "gateways"),
            Reason.ROUTE_WITHOUT_GATEWAY,
            "the route is bound to no gateway: list at least one in gateways",
        )
    yield from _listed_twice(spec.gateways, ("spec", "gateways"), "gateway")
    yield from _listed_twice(spec.hostnames, ("spec", "hostnames"), "hostname")
    if not spec.rules:
        yield Issue(("spec", "rules"), Reason.MISSING_FIELD, "a Route needs at least one rule")
    names: dict[str, int] = {}
    for index, rule in enumerate(spec.rules):
        here: FieldPath = ("spec", "rules", index)
        if rule.name is not None:
            if rule.name in names:
                yield Issue(
                    (*here, "name"),
                    Reason.DUPLICATE_NAME,
                    f'rule "{rule.name}" is already defined at spec.rules[{names[rule.name]}]',
                )
            names.setdefault(rule.name, index)
        yield from _check_rule(rule, here)


def _check_rule(rule: Rule, here: FieldPath) -> Iterator[Issue]:
    yield from _check_weights(rule, here)
    for index, match in enumerate(rule.matches):
        yield from _check_match(match, (*here, "matches", index))
    if rule.streaming is not None and rule.timeout is not None:
        yield Issue(
            (*here, "timeout"),
            Reason.CONFLICTING_FIELDS,
            "a streaming rule has no total timeout; remove timeout or use streaming.idleTimeout",
        )
    if rule.fault is not None and rule.fault.delay is None and rule.fault.abort is None:
        yield Issue((*here, "fault"), Reason.MISSING_FIELD, "fault needs delay, abort or both")
    if rule.headers is not None:
        if rule.headers.request is not None:
            yield from check_header_ops(rule.headers.request, (*here, "headers", "request"), True)
        if rule.headers.response is not None:
            yield from check_header_ops(rule.headers.response, (*here, "headers", "response"), False)


def _check_weights(rule: Rule, here: FieldPath) -> Iterator[Issue]:
    if not rule.backends:
        yield Issue((*here, "backends"), Reason.MISSING_FIELD, "a rule needs at least one backend")
        return
    negative = False
    for index, backend in enumerate(rule.backends):
        if backend.weight < 0:
            negative = True
            yield Issue(
                (*here, "backends", index, "weight"),
                Reason.NEGATIVE_WEIGHT,
                f"weight {backend.weight} is negative; use 0 to send no traffic",
            )
    if not negative and all(backend.weight == 0 for backend in rule.backends):
        yield Issue(
            (*here, "backends"),
            Reason.ALL_WEIGHTS_ZERO,
            "every backend has weight 0, so the rule would send traffic nowhere",
        )
    if sum(backend.weight for backend in rule.backends) > UINT32_MAX:
        yield Issue(
            (*here, "backends"), Reason.INVALID_VALUE, f"the weights add up to more than {UINT32_MAX}"
        )
    yield from _listed_twice([b.name for b in rule.backends], (*here, "backends"), "backend")


def _check_match(match: Match, here: FieldPath) -> Iterator[Issue]:
    if match.path is not None:
        yield from _exactly_one(match.path, ("prefix", "exact", "regex"), (*here, "path"))
    for index, header in enumerate(match.headers):
        yield from _check_header_match(header, (*here, "headers", index))
    if match.model is not None:
        yield from _exactly_one(match.model, ("exact", "prefix", "regex"), (*here, "model"))


def _check_header_match(header: HeaderMatch, here: FieldPath) -> Iterator[Issue]:
    yield from _exactly_one(header, ("exact", "prefix", "regex", "present"), here)
    if header.present is False:
        yield Issue(
            (*here, "present"),
            Reason.INVALID_VALUE,
            "present: false is not a match; use present: true with invert: true for a missing header",
        )


def _exactly_one(
    model: PathMatch | HeaderMatch | ModelMatch, fields: tuple[str, ...], here: FieldPath
) -> Iterator[Issue]:
    given = [name for name in fields if getattr(model, name) is not None]
    if not given:
        yield Issue(here, Reason.MISSING_FIELD, f"set one of {', '.join(fields)}")
    for extra in given[1:]:
        yield Issue(
            (*here, extra), Reason.CONFLICTING_FIELDS, f"{given[0]} and {extra} are both set; set one"
        )


def _listed_twice(values: list[str], here: FieldPath, what: str) -> list[Issue]:
    if len(set(values)) == len(values):  # the usual case, checked without a loop in Python
        return []
    first: dict[str, int] = {}
    issues = []
    for index, value in enumerate(values):
        if value in first:
            issues.append(Issue((*here, index), Reason.INVALID_VALUE, f'{what} "{value}" is listed twice'))
        first.setdefault(value, index)
    return issues
