"""Names between documents: unknown and dropped references, and how far a broken object reaches."""

from __future__ import annotations

from gitxds.compile import CompileResult, compile_loaded
from gitxds.config import merge_files, parse_file
from gitxds.errors import Reason

HEAD = "apiVersion: gitxds.dev/v1alpha1\nkind: {kind}\nmetadata: {{name: {name}}}\nspec:\n"
GATEWAY = (
    HEAD.format(kind="Gateway", name="edge")
    + "  proxies: {cluster: edge}\n  listeners: [{name: http, port: 80}]\n"
)


def backend(name: str, port: int = 8000) -> str:
    return HEAD.format(kind="Backend", name=name) + f"  endpoints: [{{address: 10.0.0.1, port: {port}}}]\n"


def route(name: str, backends: str = "[{name: chat-v1}]", extra: str = "", gateways: str = "[edge]") -> str:
    return (
        HEAD.format(kind="Route", name=name)
        + f"  gateways: {gateways}\n  rules:\n    - backends: {backends}\n"
        + extra
    )


def compile_files(files: dict[str, str]) -> CompileResult:
    return compile_loaded(merge_files(parse_file(path, text) for path, text in files.items()))


def lines(result: CompileResult) -> list[str]:
    return [str(d) for d in result.diagnostics]


def test_unknown_backend_names_the_known_ones() -> None:
    chat = route("chat", "\n        - {name: chat-v1, weight: 90}\n        - {name: chat-v3, weight: 10}")
    result = compile_files(
        {
            "gw.yaml": GATEWAY,
            "b.yaml": backend("chat-v1") + "---\n" + backend("chat-v2"),
            "routes/chat.yaml": chat,
        }
    )
    assert lines(result) == [
        'routes/chat.yaml:9 spec.rules[0].backends[1].name: UnknownBackend: no Backend named "chat-v3" '
        "(known: chat-v1, chat-v2)"
    ]
    assert [(d.kind, d.name, d.reason) for d in result.dropped] == [("Route", "chat", Reason.UNKNOWN_BACKEND)]
    assert result.model.routes == ()


def test_invalid_backend_drops_its_routes_but_not_unrelated_ones() -> None:
    result = compile_files(
        {
            "gw.yaml": GATEWAY,
            "b.yaml": backend("chat-v1", port=0) + "---\n" + backend("embed"),
            "r.yaml": route("chat")
            + "---\n"
            + route("embed", "[{name: embed}]", gateways="[edge]").replace(
                "rules:", "hostnames: [embed.example]\n  rules:"
            ),
        }
    )
    assert [r.name for r in result.model.routes] == ["embed"]
    assert [b.name for b in result.model.backends] == ["embed"]
    assert {(d.kind, d.name, d.reason) for d in result.dropped} == {
        ("Backend", "chat-v1", Reason.INVALID_PORT),
        ("Route", "chat", Reason.DEPENDENCY_DROPPED),
    }
    assert (
        'r.yaml:7 spec.rules[0].backends[0].name: DependencyDropped: Backend "chat-v1" was left out'
        in "\n".join(lines(result))
    )


def test_fallback_and_mirror_backends_are_checked() -> None:
    extra = "      fallback: [spare]\n      mirror: {backend: shadow}\n"
    result = compile_files(
        {"gw.yaml": GATEWAY, "b.yaml": backend("chat-v1"), "r.yaml": route("chat", extra=extra)}
    )
    assert [(d.path, d.reason) for d in result.diagnostics] == [
        ("spec.rules[0].fallback[0]", Reason.UNKNOWN_BACKEND),
        ("spec.rules[0].mirror.backend", Reason.UNKNOWN_BACKEND),
    ]


def test_unknown_gateway() -> None:
    result = compile_files({"b.yaml": backend("chat-v1"), "r.yaml": route("chat", gateways="[edge]")})
    [problem] = result.diagnostics
    assert str(problem) == 'r.yaml:5 spec.gateways[0]: UnknownGateway: no Gateway named "edge" (known: none)'


def test_route_bound_to_no_gateway() -> None:
    result = compile_files({"b.yaml": backend("chat-v1"), "r.yaml": route("chat", gateways="[]")})
    [problem] = result.diagnostics
    assert (problem.reason, problem.line, problem.path) == (Reason.ROUTE_WITHOUT_GATEWAY, 5, "spec.gateways")
    assert [d.reason for d in result.dropped] == [Reason.ROUTE_WITHOUT_GATEWAY]


def test_unknown_policies_on_a_rule() -> None:
    extra = "      rateLimit: tierd\n      auth: keys\n"
    result = compile_files(
        {"gw.yaml": GATEWAY, "b.yaml": backend("chat-v1"), "r.yaml": route("chat", extra=extra)}
    )
    assert [(d.line, d.reason) for d in result.diagnostics] == [
        (8, Reason.UNKNOWN_RATE_LIMIT_POLICY),
        (9, Reason.UNKNOWN_AUTH_POLICY),
    ]


def test_gateway_with_unknown_default_policy_drops_its_routes() -> None:
    gateway = GATEWAY + "  auth: keys\n"
    result = compile_files({"gw.yaml": gateway, "b.yaml": backend("chat-v1"), "r.yaml": route("chat")})
    assert str(result.diagnostics[0]) == (
        'gw.yaml:7 spec.auth: UnknownAuthPolicy: no AuthPolicy named "keys" (known: none)'
    )
    assert [(d.kind, d.reason) for d in result.dropped] == [
        ("Gateway", Reason.UNKNOWN_AUTH_POLICY),
        ("Route", Reason.DEPENDENCY_DROPPED),
    ]
    assert [b.name for b in result.model.backends] == ["chat-v1"]


def test_policy_backends_are_checked() -> None:
    rate = HEAD.format(kind="RateLimitPolicy", name="rl") + (
        "  mode: global\n  key: {header: k}\n  limits: {default: 1/second}\n  service: {backend: rls}\n"
    )
    auth = HEAD.format(kind="AuthPolicy", name="keys") + "  extAuthz: {backend: authz}\n"
    result = compile_files({"p.yaml": rate + "---\n" + auth})
    assert [(d.path, d.reason) for d in result.diagnostics] == [
        ("spec.service.backend", Reason.UNKNOWN_BACKEND),
        ("spec.extAuthz.backend", Reason.UNKNOWN_BACKEND),
    ]
    assert result.model.rate_limit_policies == () and result.model.auth_policies == ()


def test_identical_match_on_the_same_host_across_routes() -> None:
    match = "      matches: [{path: {prefix: /v1}, methods: [POST, GET]}]\n"
    same = "      matches: [{path: {prefix: /v1}, methods: [GET, POST]}]\n"
    result = compile_files(
        {
            "gw.yaml": GATEWAY,
            "b.yaml": backend("chat-v1"),
            "a.yaml": route("alpha", extra=match),
            "z.yaml": route("zeta", extra=same),
        }
    )
    assert lines(result) == [
        'z.yaml:8 spec.rules[0].matches[0]: DuplicateMatch: rule alpha/0 already has this match for host "*" '
        'on gateway "edge"; this rule would never be used'
    ]
    assert [r.name for r in result.model.routes] == ["alpha"]


def test_rules_without_matches_collide_within_a_route() -> None:
    extra = "    - backends: [{name: chat-v1}]\n      matches: [{path: {prefix: /}}]\n"
    result = compile_files(
        {"gw.yaml": GATEWAY, "b.yaml": backend("chat-v1"), "r.yaml": route("chat", extra=extra)}
    )
    [problem] = result.diagnostics
    assert (problem.reason, problem.path) == (Reason.DUPLICATE_MATCH, "spec.rules[1].matches[0]")


def test_same_match_on_different_hosts_is_fine() -> None:
    one = route("one").replace("rules:", "hostnames: [a.example]\n  rules:")
    two = route("two").replace("rules:", "hostnames: [b.example]\n  rules:")
    result = compile_files({"gw.yaml": GATEWAY, "b.yaml": backend("chat-v1"), "r.yaml": one + "---\n" + two})
    assert result.diagnostics == () and len(result.model.routes) == 2


def test_gateways_with_different_defaults_need_an_explicit_rule_policy() -> None:
    internal = GATEWAY.replace("edge", "internal").replace("port: 80", "port: 81") + "  auth: keys\n"
    auth = HEAD.format(kind="AuthPolicy", name="keys") + "  extAuthz: {backend: chat-v1}\n"
    files = {"gw.yaml": GATEWAY + "---\n" + internal + "---\n" + auth, "b.yaml": backend("chat-v1")}
    result = compile_files({**files, "r.yaml": route("chat", gateways="[edge, internal]")})
    [problem] = result.diagnostics
    assert (problem.reason, problem.path) == (Reason.CONFLICTING_FIELDS, "spec.rules[0]")
    assert "edge: none, internal: keys" in problem.message
    fixed = compile_files(
        {**files, "r.yaml": route("chat", gateways="[edge, internal]", extra="      auth: none\n")}
    )
    assert fixed.diagnostics == ()
    assert fixed.model.routes[0].rules[0].auth is None


def test_two_gateways_for_the_same_proxies() -> None:
    other = GATEWAY.replace("name: edge", "name: edge-b").replace("port: 80", "port: 81")
    result = compile_files(
        {"gw.yaml": GATEWAY + "---\n" + other, "b.yaml": backend("chat-v1"), "r.yaml": route("chat")}
    )
    assert lines(result) == [
        'gw.yaml:12 spec.proxies: DuplicateProxies: gateway "edge" already selects the proxies with '
        "cluster edge; an Envoy receives one gateway, so put these listeners into that gateway or select "
        "other proxies"
    ]
    assert [g.name for g in result.model.gateways] == ["edge"]
    assert [r.name for r in result.model.routes] == ["chat"]
