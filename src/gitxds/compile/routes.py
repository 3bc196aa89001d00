"""Route documents -> ir.Route: references checked, rule names assigned, effective policies resolved."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from gitxds import ir
from gitxds.compile.backends import header_ops, labels
from gitxds.compile.references import References
from gitxds.config import Document
from gitxds.config.schema import RouteObject
from gitxds.config.schema_route import NO_POLICY, HeaderMatch, Match, ModelMatch, Rule
from gitxds.config.yamlread import FieldPath
from gitxds.errors import Diagnostic, Reason

__all__ = ["compile_route", "gateway_defaults"]

Reference = tuple[FieldPath, str, str]


def compile_route(
    document: Document, refs: References, gateways: dict[str, ir.Gateway]
) -> tuple[ir.Route | None, list[Diagnostic]]:
    obj = document.obj
    assert isinstance(obj, RouteObject)
    problems = refs.check_all(document, _references(obj))
    if problems:
        return None, problems
    bound = [gateways[name] for name in obj.spec.gateways]
    rules = []
    for index, rule in enumerate(obj.spec.rules):
        compiled, conflicts = _compile_rule(document, obj.metadata.name, index, rule, bound)
        problems.extend(conflicts)
        rules.append(compiled)
    if problems:
        return None, problems
    route = ir.Route(
        name=obj.metadata.name,
        gateways=tuple(obj.spec.gateways),
        hostnames=tuple(obj.spec.hostnames),
        rules=tuple(rules),
        labels=labels(obj.metadata.labels),
    )
    return route, []


def gateway_defaults(gateway: ir.Gateway) -> tuple[str | None, str | None]:
    """All that :func:`compile_route` reads from a gateway a route is bound to, besides its name."""
    return gateway.auth, gateway.rate_limit


def _references(obj: RouteObject) -> Iterator[Reference]:
    for index, gateway in enumerate(obj.spec.gateways):
        yield ("spec", "gateways", index), "Gateway", gateway
    for index, rule in enumerate(obj.spec.rules):
        here: FieldPath = ("spec", "rules", index)
        for position, backend in enumerate(rule.backends):
            yield (*here, "backends", position, "name"), "Backend", backend.name
        for position, name in enumerate(rule.fallback):
            yield (*here, "fallback", position), "Backend", name
        if rule.mirror is not None:
            yield (*here, "mirror", "backend"), "Backend", rule.mirror.backend
        if rule.rate_limit is not None and rule.rate_limit != NO_POLICY:
            yield (*here, "rateLimit"), "RateLimitPolicy", rule.rate_limit
        if rule.auth is not None and rule.auth != NO_POLICY:
            yield (*here, "auth"), "AuthPolicy", rule.auth


def _compile_rule(
    document: Document, route: str, index: int, rule: Rule, gateways: list[ir.Gateway]
) -> tuple[ir.Rule, list[Diagnostic]]:
    here: FieldPath = ("spec", "rules", index)
    rate_limit, rate_problems = _effective_policy(
        document, (*here, "rateLimit"), rule.rate_limit, gateways, lambda g: g.rate_limit
    )
    auth, auth_problems = _effective_policy(document, (*here, "auth"), rule.auth, gateways, lambda g: g.auth)
    headers = rule.headers
    compiled = ir.Rule(
        name=f"{route}/{rule.name if rule.name is not None else index}",
        matches=tuple([_match(match) for match in rule.matches]),
        backends=tuple([ir.WeightedBackend(backend=b.name, weight=b.weight) for b in rule.backends]),
        fallback=tuple(rule.fallback),
        timeout_ms=rule.timeout,
        streaming=ir.Streaming(rule.streaming.idle_timeout) if rule.streaming is not None else None,
        retries=_retries(rule),
        mirror=ir.Mirror(rule.mirror.backend, rule.mirror.percent) if rule.mirror is not None else None,
        fault=_fault(rule),
        request_headers=header_ops(headers.request if headers is not None else None),
        response_headers=header_ops(headers.response if headers is not None else None),
        rate_limit=rate_limit,
        auth=auth,
    )
    return compiled, rate_problems + auth_problems


def _effective_policy(
    document: Document,
    path: FieldPath,
    value: str | None,
    gateways: list[ir.Gateway],
    default_of: Callable[[ir.Gateway], str | None],
) -> tuple[str | None, list[Diagnostic]]:
    """The rule's own policy, ``none`` switching it off, else the bound gateways' shared default."""
    if value is not None:
        return (None if value == NO_POLICY else value), []
    if len(gateways) == 1:  # the usual case: one default, no conflict possible
        default = default_of(gateways[0])
        return (default if default and default != NO_POLICY else None), []
    defaults = {gateway.name: default_of(gateway) for gateway in gateways}
    distinct = sorted({default or NO_POLICY for default in defaults.values()})
    if len(distinct) > 1:
        field = path[-1]
        listing = ", ".join(
            f"{gateway}: {default or NO_POLICY}" for gateway, default in sorted(defaults.items())
        )
        message = (
            f"the rule's gateways have different default {field} policies ({listing}); "
            f"set {field} on this rule"
        )
        return None, [document.diagnostic(path[:-1], Reason.CONFLICTING_FIELDS, message)]
    only = distinct[0] if distinct else NO_POLICY
    return (None if only == NO_POLICY else only), []


def _match(match: Match) -> ir.Match:
    path = None
    written = match.path
    if written is not None:
        if written.prefix is not None:
            path = ir.PathMatch(ir.PathMatchKind.PREFIX, written.prefix)
        elif written.exact is not None:
            path = ir.PathMatch(ir.PathMatchKind.EXACT, written.exact)
        elif written.regex is not None:
            path = ir.PathMatch(ir.PathMatchKind.REGEX, written.regex)
    return ir.Match(
        path=path,
        headers=tuple([_header_match(header) for header in match.headers]),
        methods=tuple(match.methods),
        model=_model_match(match.model),
    )


def _model_match(model: ModelMatch | None) -> ir.ModelMatch | None:
    if model is None:
        return None
    kind, value = next((k, v) for k in ("exact", "prefix", "regex") if (v := getattr(model, k)) is not None)
    return ir.ModelMatch(ir.HeaderMatchKind(kind), value)


def _header_match(header: HeaderMatch) -> ir.HeaderMatch:
    for kind in ("exact", "prefix", "regex"):
        value = getattr(header, kind)
        if value is not None:
            return ir.HeaderMatch(header.name, ir.HeaderMatchKind(kind), value, invert=header.invert)
    return ir.HeaderMatch(header.name, ir.HeaderMatchKind.PRESENT, "", invert=header.invert)


def _retries(rule: Rule) -> ir.Retry | None:
    retries = rule.retries
    if retries is None:
        return None
    return ir.Retry(
        attempts=retries.attempts, on=tuple(retries.on), per_try_timeout_ms=retries.per_try_timeout
    )


def _fault(rule: Rule) -> ir.Fault | None:
    fault = rule.fault
    if fault is None:
        return None
    delay = ir.FaultDelay(fault.delay.percent, fault.delay.duration) if fault.delay is not None else None
    abort = ir.FaultAbort(fault.abort.percent, fault.abort.status) if fault.abort is not None else None
    return ir.Fault(delay=delay, abort=abort)
