"""Regexes: what Envoy's RE2 rejects is rejected before Envoy sees it, and nothing RE2 accepts is."""

from __future__ import annotations

import pytest

from gitxds.config.regex import program_size, re2_problem

# Program sizes Envoy 1.40 reports for these regexes ("RE2 program size of N > max program size").
ENVOY_SIZES = {
    "a" * 97: 101,
    "x{97}": 101,
    "x{1,97}": 197,
    "x{1,50}": 103,
    "(x){97}": 295,
    "(ab|cd){30}": 184,
    "(?:ab|cd){30}": 124,
    "\\w{97}": 295,
    "\\d{97}": 101,
    "(?i)a{97}": 101,
    "(?:ab|cd|ef){25}": 154,
    "[^/]{97}": 198,
    "(?:x+){49}": 150,
    "(?:x?){49}": 102,
}
# Regexes Envoy 1.40 accepts.
ENVOY_ACCEPTS = [
    "a" * 96,
    ".{25}",
    "(?:x*){33}",
    "(?:a|b|c){25}",
    "^a{96}$",
    "(?i)chat",
    "(?s).",
    "(?P<v>v1)/.*",
    "[[:alpha:]]+",
    "\\Ax",
    "a{,3}",
    "[*+]+",
]


@pytest.mark.parametrize(("regex", "envoy_size"), ENVOY_SIZES.items())
def test_estimate_never_exceeds_what_envoy_counts(regex: str, envoy_size: int) -> None:
    assert program_size(regex) <= envoy_size


@pytest.mark.parametrize("regex", [r for r, size in ENVOY_SIZES.items() if program_size(r) == size])
def test_regexes_envoy_finds_too_complex_are_rejected(regex: str) -> None:
    problem = re2_problem(regex)
    assert problem is not None and problem.startswith("is too complex for Envoy")


def test_most_calibrated_sizes_are_exact() -> None:
    exact = [regex for regex, size in ENVOY_SIZES.items() if program_size(regex) == size]
    assert len(exact) >= 10


@pytest.mark.parametrize("regex", ENVOY_ACCEPTS)
def test_regexes_envoy_accepts_are_accepted(regex: str) -> None:
    assert re2_problem(regex) is None


@pytest.mark.parametrize(
    ("regex", "construct"),
    [
        ("(?x)a b", "(?x"),
        ("\\u0041", "\\u"),
        ("(?a)x", "(?a"),
        ("(?u)x", "(?u"),
        ("(?#note)x", "(?#"),
        ("(?=x)", "(?="),
        ("(?<!x)y", "(?<!"),
        ("(a)\\1", "\\1"),
        ("a++", "++"),
    ],
)
def test_constructs_envoy_rejects_are_named(regex: str, construct: str) -> None:
    assert re2_problem(regex) == f"uses {construct}, which Envoy (RE2) does not support"
