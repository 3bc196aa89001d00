"""Messages users read for common mistakes, and limits that come from Envoy rather than from YAML."""

from __future__ import annotations

import pytest

from gitxds.config import parse_file
from gitxds.errors import Reason

HEAD = "apiVersion: gitxds.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n"
ENDPOINTS = "  endpoints:\n    - {address: 10.0.0.1, port: 8000}\n"
RULE = "  gateways: [edge]\n  rules:\n    - backends: [{name: b}]\n"


def document(kind: str, spec: str, name: str = "x") -> str:
    return HEAD.format(kind=kind, name=name) + spec


def test_every_problem_of_one_document_is_reported() -> None:
    spec = "  endpoints:\n    - {address: 1.2.3, port: 0, wieght: 1}\n  connectTimeout: 1x\n  protocl: GRPC\n"
    result = parse_file("f.yaml", document("Backend", spec))
    assert {d.reason for d in result.diagnostics} == {
        Reason.INVALID_VALUE,
        Reason.INVALID_PORT,
        Reason.UNKNOWN_FIELD,
        Reason.INVALID_DURATION,
    }
    assert len(result.diagnostics) == 5


def test_unknown_field_without_close_match_lists_allowed_fields() -> None:
    [problem] = parse_file("f.yaml", document("Backend", ENDPOINTS + "  zzz: 1\n")).diagnostics
    assert problem.message.startswith('unknown field "zzz" (allowed: endpoints, dns, kubernetes, protocol')


def test_wrong_type_says_what_was_expected() -> None:
    [problem] = parse_file("f.yaml", document("Backend", "  endpoints: {address: 10.0.0.1}\n")).diagnostics
    assert (problem.reason, problem.message) == (Reason.INVALID_TYPE, "expected a list, got a mapping")


def test_enum_typo_suggests_the_value() -> None:
    [problem] = parse_file(
        "f.yaml", document("Backend", ENDPOINTS + "  loadBalancer: LEAST_REQUESTS\n")
    ).diagnostics
    assert problem.message == (
        '"LEAST_REQUESTS" is not one of ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH '
        '(did you mean "LEAST_REQUEST"?)'
    )


def test_header_names_are_lower_cased_and_numbers_accepted_as_values() -> None:
    spec = ENDPOINTS + "  requestHeaders:\n    set: {X-Tenant: 42}\n"
    [document_] = parse_file("f.yaml", document("Backend", spec)).documents
    assert document_.obj.spec.request_headers is not None
    assert document_.obj.spec.request_headers.set == {"x-tenant": "42"}


def test_shape_errors_and_cross_field_errors_are_reported_in_one_run() -> None:
    spec = ENDPOINTS + "  hashOn: {header: x-user}\n  protocl: GRPC\n  connectTimeout: soon\n"
    result = parse_file("f.yaml", document("Backend", spec))
    assert {(d.path, d.reason) for d in result.diagnostics} == {
        ("spec.protocl", Reason.UNKNOWN_FIELD),
        ("spec.connectTimeout", Reason.INVALID_DURATION),
        ("spec.hashOn", Reason.CONFLICTING_FIELDS),
    }


def test_no_echo_of_a_removed_field_in_cross_field_checks() -> None:
    spec = "  dns: {hostname: a.example, port: 80, portt: 81}\n"
    result = parse_file("f.yaml", document("Backend", spec))
    assert [(d.path, d.reason) for d in result.diagnostics] == [("spec.dns.portt", Reason.UNKNOWN_FIELD)]


@pytest.mark.parametrize(
    ("regex", "construct"),
    [
        ("/v1/(?!x)", "(?!"),
        ("a++", "++"),
        ("x{2}+", "}+"),
        ("(?>a)", "(?>"),
        ("a\\Z", "\\Z"),
        ("(?P<n>a)(?P=n)", "(?P="),
    ],
)
def test_regex_features_envoy_lacks_are_named(regex: str, construct: str) -> None:
    spec = RULE + f"      matches: [{{path: {{regex: '{regex}'}}}}]\n"
    [problem] = parse_file("f.yaml", document("Route", spec)).diagnostics
    assert problem.reason is Reason.INVALID_REGEX
    assert f"uses {construct}," in problem.message


@pytest.mark.parametrize(
    "regex", ["/v[0-9]+/chat", "[*+]+", "\\++", "chat-(large|small)", "(?P<v>v1)/.*", "a\\\\Z"]
)
def test_regexes_envoy_accepts_pass(regex: str) -> None:
    spec = RULE + f"      matches: [{{path: {{regex: '{regex}'}}}}]\n"
    assert parse_file("f.yaml", document("Route", spec)).diagnostics == ()


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        (ENDPOINTS + "  circuitBreaker: {maxRequests: 4294967296}\n", "spec.circuitBreaker.maxRequests"),
        ("  endpoints: [{address: 10.0.0.1, port: 80, weight: 4294967296}]\n", "spec.endpoints[0].weight"),
    ],
)
def test_counts_beyond_what_envoy_can_hold_are_rejected(spec: str, path: str) -> None:
    [problem] = parse_file("f.yaml", document("Backend", spec)).diagnostics
    assert (problem.path, problem.reason, problem.message) == (
        path,
        Reason.INVALID_VALUE,
        "must be <= 4294967295, got 4294967296",
    )


def test_header_value_with_a_line_break_is_rejected() -> None:
    spec = ENDPOINTS + '  requestHeaders:\n    add: {x-a: "one\\ntwo"}\n'
    [problem] = parse_file("f.yaml", document("Backend", spec)).diagnostics
    assert (problem.path, problem.reason) == ("spec.requestHeaders.add.x-a", Reason.INVALID_VALUE)


def test_weights_that_add_up_beyond_uint32_are_rejected() -> None:
    big = "{name: a, weight: 4294967295}, {name: b, weight: 1}"
    spec = f"  gateways: [edge]\n  rules:\n    - backends: [{big}]\n"
    [problem] = parse_file("f.yaml", document("Route", spec)).diagnostics
    assert (problem.path, problem.reason) == ("spec.rules[0].backends", Reason.INVALID_VALUE)
    endpoints = "  endpoints:\n    - {address: 10.0.0.1, port: 1, weight: 4294967295}\n"
    endpoints += (
        "    - {address: 10.0.0.2, port: 1, weight: 1}\n    - {address: 10.0.0.3, port: 1, priority: 1}\n"
    )
    [problem] = parse_file("f.yaml", document("Backend", endpoints)).diagnostics
    assert (problem.path, problem.reason, problem.message) == (
        "spec.endpoints",
        Reason.INVALID_VALUE,
        "the weights of priority 0 add up to more than 4294967295",
    )


@pytest.mark.parametrize("secret", ["../etc/passwd", ".hidden", "a/b"])
def test_secret_names_stay_inside_the_secret_store(secret: str) -> None:
    spec = ENDPOINTS + f"  requestHeaders:\n    set: {{authorization: {{secretRef: '{secret}'}}}}\n"
    [problem] = parse_file("f.yaml", document("Backend", spec)).diagnostics
    assert (problem.path, problem.reason) == (
        "spec.requestHeaders.set.authorization.secretRef",
        Reason.INVALID_NAME,
    )


def test_cross_field_problems_still_found_next_to_a_bad_list_item() -> None:
    spec = RULE + "      matches: [{methods: [FETCH], path: {prefix: /a, exact: /a}}]\n"
    result = parse_file("f.yaml", document("Route", spec))
    assert {(d.path, d.reason) for d in result.diagnostics} == {
        ("spec.rules[0].matches[0].methods[0]", Reason.INVALID_VALUE),
        ("spec.rules[0].matches[0].path.exact", Reason.CONFLICTING_FIELDS),
    }
