"""RouteConfiguration builders: virtual hosts by hostname, one Envoy route per rule match.

Within a virtual host, routes are ordered most specific first (exact path, then regex, then longer
prefixes, then more header conditions); ties keep the order the user wrote. A virtual host for a
hostname also carries, after its own rules, the rules of routes that accept any hostname.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from envoy.config.core.v3.base_pb2 import HeaderValue, HeaderValueOption, RuntimeFractionalPercent
from envoy.config.route.v3.route_components_pb2 import (
    HeaderMatcher,
    RetryPolicy,
    Route,
    RouteAction,
    RouteMatch,
    VirtualHost,
    WeightedCluster,
)
from envoy.config.route.v3.route_pb2 import RouteConfiguration
from envoy.extensions.retry.host.previous_hosts.v3.previous_hosts_pb2 import PreviousHostsPredicate
from envoy.extensions.retry.priority.previous_priorities.v3.previous_priorities_config_pb2 import (
    PreviousPrioritiesConfig,
)
from envoy.type.matcher.v3.regex_pb2 import RegexMatcher
from envoy.type.matcher.v3.string_pb2 import StringMatcher

from gitxds import ir
from gitxds.translators.xds._proto import duration, fractional_percent, packed, set_duration, uint32
from gitxds.translators.xds.ai import (
    AI_NAMESPACE,
    MODEL_LABEL_KEY,
    OTHER_MODEL,
    body_filters_off,
    invalid_body_response,
    model_absent_matcher,
    model_label,
    model_matcher,
    model_present_matcher,
    unknown_model_response,
)
from gitxds.translators.xds.clusters import aggregate_cluster_name, fallback_of
from gitxds.translators.xds.endpoints import BACKEND_METADATA_KEY, METADATA_NAMESPACE
from gitxds.translators.xds.filters import FAULT_FILTER, FilterPlan, per_route_filter_configs_for
from gitxds.translators.xds.headers import header_value_options_for
from gitxds.translators.xds.secrets import SecretValues
from gitxds.translators.xds.tracing import requested_model_source, route_tracing_for

__all__ = [
    "ANY_HOST",
    "BACKEND_HEADER",
    "FALLBACK_RETRY_ON",
    "backend_header_option",
    "cluster_for_backend",
    "header_matcher_for",
    "request_mirror_policies_for",
    "retry_policy_for",
    "route_action_for",
    "route_configuration_for",
    "route_match_for",
    "routes_for",
    "specificity",
    "virtual_hosts_for",
    "weighted_clusters_for",
]

ANY_HOST = "*"
# Names the Backend whose endpoint answered, read from the endpoint's metadata, so it is the real
# backend even when an aggregate cluster failed over to a fallback.
BACKEND_HEADER = "x-gitxds-backend"
FALLBACK_RETRY_ON = ("5xx", "reset", "connect-failure", "refused-stream")


def _string_matcher_for(kind: ir.HeaderMatchKind, value: str) -> StringMatcher:
    if kind is ir.HeaderMatchKind.EXACT:
        return StringMatcher(exact=value)
    if kind is ir.HeaderMatchKind.PREFIX:
        return StringMatcher(prefix=value)
    return StringMatcher(safe_regex=RegexMatcher(regex=value))


def header_matcher_for(match: ir.HeaderMatch) -> HeaderMatcher:
    if match.kind is ir.HeaderMatchKind.PRESENT:
        return HeaderMatcher(name=match.name, present_match=True, invert_match=match.invert)
    return HeaderMatcher(
        name=match.name, string_match=_string_matcher_for(match.kind, match.value), invert_match=match.invert
    )


def _method_matcher_for(methods: tuple[str, ...]) -> HeaderMatcher:
    if len(methods) == 1:
        return HeaderMatcher(name=":method", string_match=StringMatcher(exact=methods[0]))
    regex = "^(" + "|".join(methods) + ")$"
    return HeaderMatcher(name=":method", string_match=StringMatcher(safe_regex=RegexMatcher(regex=regex)))


def route_match_for(match: ir.Match) -> RouteMatch:
    route_match = RouteMatch()
    _fill_match(route_match, match)
    return route_match


def _fill_match(route_match: RouteMatch, match: ir.Match) -> None:
    """Written into the route's own field: a copy per route costs as much as building it."""
    if match.headers:
        route_match.headers.extend(header_matcher_for(header) for header in match.headers)
    path = match.path
    if path is None:
        route_match.prefix = "/"
    elif path.kind is ir.PathMatchKind.EXACT:
        route_match.path = path.value
    elif path.kind is ir.PathMatchKind.PREFIX:
        route_match.prefix = path.value
    else:
        route_match.safe_regex.regex = path.value
    if match.methods:
        route_match.headers.append(_method_matcher_for(match.methods))
    if match.model is not None:
        route_match.dynamic_metadata.append(model_matcher(match.model))


def cluster_for_backend(backend: str, rule: ir.Rule) -> str:
    fallback = fallback_of(backend, rule.fallback)
    return aggregate_cluster_name(backend, fallback) if fallback else backend


def weighted_clusters_for(rule: ir.Rule) -> WeightedCluster:
    return WeightedCluster(
        clusters=[
            WeightedCluster.ClusterWeight(name=cluster_for_backend(b.backend, rule), weight=uint32(b.weight))
            for b in rule.backends
        ]
    )


def retry_policy_for(retry: ir.Retry | None, fallback: tuple[str, ...] = ()) -> RetryPolicy | None:
    """The rule's retries; with a fallback, failed attempts move on to the next backend in line
    (the next priority of the aggregate cluster), so at least one retry per fallback backend."""
    if retry is None and not fallback:
        return None
    retry_on = list(retry.on) if retry is not None else []
    retry_on += [condition for condition in FALLBACK_RETRY_ON if fallback and condition not in retry_on]
    attempts = retry.attempts if retry is not None else 0
    policy = RetryPolicy(retry_on=",".join(retry_on), num_retries=uint32(max(attempts, len(fallback))))
    if retry is not None and retry.per_try_timeout_ms is not None:
        policy.per_try_timeout.CopyFrom(duration(retry.per_try_timeout_ms))
    policy.retry_host_predicate.add(
        name="envoy.retry_host_predicates.previous_hosts", typed_config=packed(PreviousHostsPredicate())
    )
    policy.host_selection_retry_max_attempts = 3
    if fallback:
        policy.retry_priority.name = "envoy.retry_priorities.previous_priorities"
        policy.retry_priority.typed_config.CopyFrom(packed(PreviousPrioritiesConfig(update_frequency=1)))
    return policy


def request_mirror_policies_for(mirror: ir.Mirror) -> list[RouteAction.RequestMirrorPolicy]:
    fraction = RuntimeFractionalPercent(default_value=fractional_percent(mirror.percent))
    return [RouteAction.RequestMirrorPolicy(cluster=mirror.backend, runtime_fraction=fraction)]


def route_action_for(rule: ir.Rule, hash_headers: tuple[str, ...]) -> RouteAction:
    """``hash_headers``: the ``hashOn`` headers of the rule's RING_HASH backends."""
    action = RouteAction()
    _fill_action(action, rule, hash_headers)
    return action


def _fill_action(action: RouteAction, rule: ir.Rule, hash_headers: tuple[str, ...]) -> None:
    if len(rule.backends) == 1:
        action.cluster = cluster_for_backend(rule.backends[0].backend, rule)
    else:
        action.weighted_clusters.CopyFrom(weighted_clusters_for(rule))
    if rule.streaming is not None:
        set_duration(action.timeout, 0)
        set_duration(action.idle_timeout, rule.streaming.idle_timeout_ms)
    elif rule.timeout_ms is not None:
        set_duration(action.timeout, rule.timeout_ms)
    retry = retry_policy_for(rule.retries, rule.fallback)
    if retry is not None:
        action.retry_policy.CopyFrom(retry)
    if rule.mirror is not None:
        action.request_mirror_policies.extend(request_mirror_policies_for(rule.mirror))
    for header in hash_headers:
        action.hash_policy.add(header=RouteAction.HashPolicy.Header(header_name=header))


def routes_for(
    rule: ir.Rule, plan: FilterPlan, hash_headers: tuple[str, ...], secrets: SecretValues
) -> list[Route]:
    """One Envoy route per match of the rule (a rule without matches takes every request)."""
    template = Route()
    _fill_action(template.route, rule, hash_headers)
    for filter_name, config in per_route_filter_configs_for(rule, plan).items():
        template.typed_per_filter_config[filter_name].CopyFrom(config)
    if plan.tracing:
        rate_limit = plan.rate_limit_policy(rule.rate_limit)
        template.tracing.CopyFrom(route_tracing_for(rule, rate_limit, requested_model_source(rule)))
    if rule.request_headers:
        template.request_headers_to_add.extend(header_value_options_for(rule.request_headers, secrets))
        template.request_headers_to_remove.extend(rule.request_headers.remove)
    if rule.response_headers:
        template.response_headers_to_add.extend(header_value_options_for(rule.response_headers, secrets))
        template.response_headers_to_remove.extend(rule.response_headers.remove)
    if len(rule.matches) <= 1:
        template.name = rule.name
        _set_match(template, rule.matches[0] if rule.matches else ir.Match(), plan)
        return [template]
    routes = []
    for index, match in enumerate(rule.matches):
        route = Route()
        route.CopyFrom(template)
        route.name = f"{rule.name}#{index}"
        _set_match(route, match, plan)
        routes.append(route)
    return routes


def _set_match(route: Route, match: ir.Match, plan: FilterPlan) -> None:
    _fill_match(route.match, match)
    # A bounded label for usage accounting: the model as the config names it, else "other".
    if match.model is not None:
        route.metadata.filter_metadata[AI_NAMESPACE].update({MODEL_LABEL_KEY: model_label(match.model)})
    elif plan.openai_backends:
        route.metadata.filter_metadata[AI_NAMESPACE].update({MODEL_LABEL_KEY: OTHER_MODEL})


def specificity(match: ir.Match) -> tuple[int, int, int]:
    """Sort key, smaller first: path kind, then longer path, then more conditions."""
    conditions = len(match.headers) + bool(match.methods) + (match.model is not None)
    path = match.path
    if path is None:
        return (2, -1, -conditions)
    rank = {ir.PathMatchKind.EXACT: 0, ir.PathMatchKind.REGEX: 1, ir.PathMatchKind.PREFIX: 2}[path.kind]
    return (rank, -len(path.value), -conditions)


def _without_model(match: ir.Match) -> ir.Match:
    return ir.Match(path=match.path, headers=match.headers, methods=match.methods)


def _shared_configs(rules: Sequence[ir.Rule], plan: FilterPlan) -> dict[str, Any]:
    """Per-route settings of a body-reading route. Envoy builds a request's filter chain once, from the
    route chosen on its headers, so a filter stays on when any rule the model may pick uses it; the
    body filters are on; fault settings come from the rule finally chosen."""
    configs = [per_route_filter_configs_for(rule, plan) for rule in rules]
    off_for_all = (
        set.intersection(*(set(each) for each in configs)) - set(body_filters_off()) - {FAULT_FILTER}
    )
    return {name: configs[0][name] for name in sorted(off_for_all)}


def _model_routes(rules: Sequence[ir.Rule], plan: FilterPlan) -> tuple[list[tuple[Any, Route]], list[Route]]:
    """Routes Envoy needs around the rules that match on the body's model, per shared request match:

    * first, while no model is known (request headers only): a route that turns the body filters on;
      when the body yields no model it stays chosen and answers 400;
    * last: a model was read but no rule (nor any rule without a model match) took it: 404."""
    groups: dict[ir.Match, list[ir.Rule]] = {}
    for rule in rules:
        for match in rule.matches:
            if match.model is not None:
                groups.setdefault(_without_model(match), []).append(rule)
    first, last = [], []
    for index, (match, group) in enumerate(groups.items()):
        reading = Route(name=f"gitxds.model-body#{index}", match=route_match_for(match))
        reading.match.dynamic_metadata.append(model_absent_matcher())
        reading.direct_response.CopyFrom(invalid_body_response())
        for filter_name, config in _shared_configs(group, plan).items():
            reading.typed_per_filter_config[filter_name].CopyFrom(config)
        key = (*specificity(match)[:2], -len(match.headers) - bool(match.methods) - 1)
        first.append(((key, 0), reading))
        unknown = Route(name=f"gitxds.model-unknown#{index}", match=route_match_for(match))
        unknown.match.dynamic_metadata.append(model_present_matcher())
        unknown.direct_response.CopyFrom(unknown_model_response())
        last.append(unknown)
    return first, last


def _ordered_routes(
    rules: Sequence[ir.Rule], routes_by_rule: dict[str, list[Route]], plan: FilterPlan
) -> list[Route]:
    keyed: list[tuple[Any, Route]] = [
        ((specificity(match), 1), envoy_route)
        for rule in rules
        for match, envoy_route in zip(rule.matches or (ir.Match(),), routes_by_rule[rule.name], strict=True)
    ]
    first, last = _model_routes(rules, plan)
    ordered = [envoy_route for _, envoy_route in sorted(keyed + first, key=lambda pair: pair[0])]
    return ordered + last


def _accepts_any_host(route: ir.Route) -> bool:
    return not route.hostnames or ANY_HOST in route.hostnames


def virtual_hosts_for(
    routes: Iterable[ir.Route], routes_by_rule: dict[str, list[Route]], plan: FilterPlan | None = None
) -> list[VirtualHost]:
    """``routes_by_rule``: the Envoy routes already built for each rule, by rule name."""
    routes = tuple(routes)
    plan = plan or FilterPlan()
    any_host_rules = [rule for route in routes if _accepts_any_host(route) for rule in route.rules]
    hostnames = sorted({host for route in routes for host in route.hostnames} - {ANY_HOST})
    hosts = []
    for hostname in hostnames:
        own = [rule for route in routes if hostname in route.hostnames for rule in route.rules]
        ordered = _ordered_routes(own + any_host_rules, routes_by_rule, plan)
        hosts.append(VirtualHost(name=hostname, domains=[hostname], routes=ordered))
    if any_host_rules:
        ordered = _ordered_routes(any_host_rules, routes_by_rule, plan)
        hosts.append(VirtualHost(name=ANY_HOST, domains=[ANY_HOST], routes=ordered))
    return hosts


def backend_header_option() -> HeaderValueOption:
    """Every answer names the Backend that gave it (see ``BACKEND_HEADER``)."""
    return HeaderValueOption(
        header=HeaderValue(
            key=BACKEND_HEADER, value=f"%UPSTREAM_METADATA({METADATA_NAMESPACE}:{BACKEND_METADATA_KEY})%"
        ),
        append_action=HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD,
    )


def route_configuration_for(name: str, virtual_hosts: Iterable[VirtualHost]) -> RouteConfiguration:
    return RouteConfiguration(
        name=name,
        virtual_hosts=virtual_hosts,
        response_headers_to_add=[backend_header_option()],
    )
