"""Rules become Envoy routes: matches, splits, fallbacks, timeouts, retries, mirrors, faults, headers."""

from __future__ import annotations

from envoy.config.core.v3.base_pb2 import HeaderValueOption
from envoy.config.route.v3.route_components_pb2 import FilterConfig, Route
from envoy.extensions.filters.http.ext_authz.v3.ext_authz_pb2 import ExtAuthzPerRoute
from envoy.extensions.filters.http.fault.v3.fault_pb2 import HTTPFault
from envoy.type.v3.percent_pb2 import FractionalPercent

from gitxds import ir
from gitxds.translators.xds import FilterPlan, SecretValues, routes_for, virtual_hosts_for
from gitxds.translators.xds.filters import FAULT_FILTER, auth_filter_name, rate_limit_filter_name
from gitxds.translators.xds.routes import request_mirror_policies_for, retry_policy_for

RENDER = SecretValues.of(None)
ONE = (ir.WeightedBackend("chat", 1),)


def rule(name: str = "r/0", **fields: object) -> ir.Rule:
    fields.setdefault("matches", ())
    fields.setdefault("backends", ONE)
    return ir.Rule(name, **fields)  # type: ignore[arg-type]


NO_FILTERS = FilterPlan()


def only_route(a_rule: ir.Rule, plan: FilterPlan = NO_FILTERS, hash_headers: tuple[str, ...] = ()) -> Route:
    [route] = routes_for(a_rule, plan, hash_headers, RENDER)
    return route


def test_a_rule_without_matches_takes_every_request() -> None:
    assert only_route(rule()).match.prefix == "/"


def test_each_match_is_its_own_route_with_the_same_action() -> None:
    matches = (
        ir.Match(path=ir.PathMatch(ir.PathMatchKind.PREFIX, "/v1/")),
        ir.Match(path=ir.PathMatch(ir.PathMatchKind.EXACT, "/v1")),
        ir.Match(path=ir.PathMatch(ir.PathMatchKind.REGEX, "^/v[0-9]+/models$")),
    )
    routes = routes_for(rule("chat/0", matches=matches), FilterPlan(), (), RENDER)
    assert [r.name for r in routes] == ["chat/0#0", "chat/0#1", "chat/0#2"]
    assert routes[0].match.prefix == "/v1/"
    assert routes[1].match.path == "/v1"
    assert routes[2].match.safe_regex.regex == "^/v[0-9]+/models$"
    assert {r.route.cluster for r in routes} == {"chat"}


def test_header_and_method_conditions() -> None:
    headers = (
        ir.HeaderMatch("x-model", ir.HeaderMatchKind.EXACT, "large"),
        ir.HeaderMatch("x-tenant", ir.HeaderMatchKind.PREFIX, "team-"),
        ir.HeaderMatch("x-region", ir.HeaderMatchKind.REGEX, "^eu-"),
        ir.HeaderMatch("x-debug", ir.HeaderMatchKind.PRESENT, invert=True),
    )
    route = only_route(rule(matches=(ir.Match(headers=headers, methods=("GET", "HEAD")),)))
    model, tenant, region, debug, method = route.match.headers
    assert (model.name, model.string_match.exact) == ("x-model", "large")
    assert tenant.string_match.prefix == "team-"
    assert region.string_match.safe_regex.regex == "^eu-"
    assert debug.present_match and debug.invert_match
    assert (method.name, method.string_match.safe_regex.regex) == (":method", "^(GET|HEAD)$")
    single = only_route(rule(matches=(ir.Match(methods=("POST",)),)))
    assert single.match.headers[0].string_match.exact == "POST"


def test_several_backends_split_by_weight() -> None:
    backends = (ir.WeightedBackend("chat-v1", 90), ir.WeightedBackend("chat-v2", 10))
    route = only_route(rule(backends=backends))
    assert not route.route.cluster
    split = [(c.name, c.weight.value) for c in route.route.weighted_clusters.clusters]
    assert split == [("chat-v1", 90), ("chat-v2", 10)]


def test_fallback_targets_aggregate_clusters_and_retries_into_them() -> None:
    backends = (ir.WeightedBackend("chat-v1", 90), ir.WeightedBackend("chat-v2", 10))
    route = only_route(rule(backends=backends, fallback=("provider-a", "provider-b")))
    names = [c.name for c in route.route.weighted_clusters.clusters]
    assert names == ["chat-v1+fallback+provider-a+provider-b", "chat-v2+fallback+provider-a+provider-b"]
    retry = route.route.retry_policy
    assert retry.num_retries.value == 2  # one per fallback backend
    assert retry.retry_priority.name == "envoy.retry_priorities.previous_priorities"
    assert set(retry.retry_on.split(",")) >= {"5xx", "reset", "connect-failure"}


def test_user_retries_are_kept_and_widened_by_a_fallback() -> None:
    retry = retry_policy_for(ir.Retry(3, ("gateway-error",), per_try_timeout_ms=2000), ("provider",))
    assert retry is not None
    assert retry.num_retries.value == 3
    assert retry.retry_on.split(",")[0] == "gateway-error"
    assert retry.per_try_timeout.seconds == 2
    plain = retry_policy_for(ir.Retry(2, ("5xx", "reset")))
    assert plain is not None
    assert (plain.retry_on, plain.num_retries.value) == ("5xx,reset", 2)
    assert not plain.HasField("retry_priority")
    assert retry_policy_for(None) is None


def test_timeouts_and_streaming() -> None:
    assert only_route(rule(timeout_ms=120_000)).route.timeout.seconds == 120
    streaming = only_route(rule(timeout_ms=5000, streaming=ir.Streaming(30_000))).route
    assert streaming.HasField("timeout")
    assert streaming.timeout.seconds == 0  # no total timeout for a stream
    assert streaming.idle_timeout.seconds == 30
    assert not only_route(rule()).route.HasField("timeout")  # Envoy's default


def test_mirror_percent_keeps_fractions() -> None:
    [five] = request_mirror_policies_for(ir.Mirror("chat-v2", 5))
    assert five.cluster == "chat-v2"
    fraction = five.runtime_fraction.default_value
    assert (fraction.numerator, fraction.denominator) == (5, FractionalPercent.HUNDRED)
    [half] = request_mirror_policies_for(ir.Mirror("chat-v2", 0.5))
    fraction = half.runtime_fraction.default_value
    assert (fraction.numerator, fraction.denominator) == (5000, FractionalPercent.MILLION)


def test_ring_hash_backends_hash_on_their_header() -> None:
    route = only_route(rule(), hash_headers=("x-session-id",))
    assert [h.header.header_name for h in route.route.hash_policy] == ["x-session-id"]


def test_header_rewrites_use_the_right_append_action() -> None:
    request = ir.HeaderOps(set=(("x-route", "chat"),), add=(("x-via", "gitxds"),), remove=("x-internal",))
    response = ir.HeaderOps(remove=("server",))
    route = only_route(rule(request_headers=request, response_headers=response))
    actions = {o.header.key: (o.header.value, o.append_action) for o in route.request_headers_to_add}
    assert actions == {
        "x-route": ("chat", HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD),
        "x-via": ("gitxds", HeaderValueOption.APPEND_IF_EXISTS_OR_ADD),
    }
    assert list(route.request_headers_to_remove) == ["x-internal"]
    assert list(route.response_headers_to_remove) == ["server"]


def test_fault_settings_and_unused_policy_filters_are_per_route() -> None:
    auth = ir.AuthPolicy("keys", ir.ExtAuthz("authz"))
    limit = ir.RateLimitPolicy(
        "tiered", ir.RateLimitMode.LOCAL, "x-api-key", None, "free", (("free", ir.Rate(1, 1)),)
    )
    plan = FilterPlan(fault=True, auth_policies=(auth,), rate_limit_policies=(limit,))
    fault = ir.Fault(delay=ir.FaultDelay(10, 2000), abort=ir.FaultAbort(1.5, 503))
    faulty = only_route(rule(fault=fault), plan)
    config = HTTPFault()
    faulty.typed_per_filter_config[FAULT_FILTER].Unpack(config)
    assert config.delay.fixed_delay.seconds == 2
    assert config.delay.percentage.numerator == 10
    assert (config.abort.http_status, config.abort.percentage.numerator) == (503, 15_000)
    disabled_auth = ExtAuthzPerRoute()
    faulty.typed_per_filter_config[auth_filter_name("keys")].Unpack(disabled_auth)
    assert disabled_auth.disabled
    disabled_limit = FilterConfig()
    faulty.typed_per_filter_config[rate_limit_filter_name("tiered")].Unpack(disabled_limit)
    assert disabled_limit.disabled
    protected = only_route(rule(auth="keys", rate_limit="tiered"), plan)
    assert set(protected.typed_per_filter_config) == set()  # both filters run; no fault here


def test_virtual_hosts_by_hostname_carry_any_host_rules_and_order_by_specificity() -> None:
    prefix = ir.Match(path=ir.PathMatch(ir.PathMatchKind.PREFIX, "/v1"))
    longer = ir.Match(path=ir.PathMatch(ir.PathMatchKind.PREFIX, "/v1/chat"))
    exact = ir.Match(path=ir.PathMatch(ir.PathMatchKind.EXACT, "/v1"))
    api = ir.Route("api", ("edge",), ("api.example.com",), (rule("api/0", matches=(prefix,)),))
    catchall = ir.Route(
        "all",
        ("edge",),
        (),
        (rule("all/0"), rule("all/1", matches=(longer,)), rule("all/2", matches=(exact,))),
    )
    routes = (api, catchall)
    built = {r.name: routes_for(r, FilterPlan(), (), RENDER) for route in routes for r in route.rules}
    hosts = virtual_hosts_for(routes, built)
    assert [(h.name, list(h.domains)) for h in hosts] == [
        ("api.example.com", ["api.example.com"]),
        ("*", ["*"]),
    ]
    assert [r.name for r in hosts[0].routes] == ["all/2", "all/1", "api/0", "all/0"]
    assert [r.name for r in hosts[1].routes] == ["all/2", "all/1", "all/0"]
