"""Hostile YAML text: alias bombs are refused before they expand, and no diagnostic carries more of
the text than a short, escaped value from a valid mapping."""

from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc

import pytest

from gitxds.config import parse_file
from gitxds.config.yamlread import ALIAS_EXPANSION_BUDGET
from gitxds.errors import Reason
from harness.hostile import alias_bomb

SECRET = "sk-live-0123456789abcdef"
HEAD = "apiVersion: gitxds.dev/v1alpha1\nkind: Backend\nmetadata: {name: b}\nspec:\n"


@pytest.mark.parametrize("levels", [5, 8, 20])
def test_an_alias_bomb_is_refused_before_it_expands(levels: int) -> None:
    tracemalloc.start()
    started = time.process_time()
    result = parse_file("bomb.yaml", alias_bomb(levels))
    seconds = time.process_time() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [(d.line, d.reason) for d in result.diagnostics] == [(1, Reason.ALIAS_EXPANSION_TOO_LARGE)]
    assert result.documents == ()
    # generous bounds: an expansion would take seconds and gigabytes
    assert seconds < 1 and peak < 20 * 1024 * 1024


def test_aliases_within_the_budget_are_expanded() -> None:
    endpoints = "    - {address: 10.0.0.1, port: &port 8080}\n    - {address: 10.0.0.2, port: *port}\n"
    text = HEAD + "  endpoints:\n" + endpoints
    result = parse_file("ok.yaml", text)
    assert result.diagnostics == ()
    [document] = result.documents
    assert document.obj.model_dump()["spec"]["endpoints"][1]["port"] == 8080


def test_the_budget_counts_expanded_nodes_not_aliases() -> None:
    items = ", ".join(["x"] * 99)
    under = f"a: &a [{items}]\nb: [" + ", ".join(["*a"] * (ALIAS_EXPANSION_BUDGET // 100)) + "]\n"
    over = f"a: &a [{items}]\nb: [" + ", ".join(["*a"] * (ALIAS_EXPANSION_BUDGET // 100 + 2)) + "]\n"
    assert Reason.ALIAS_EXPANSION_TOO_LARGE not in {d.reason for d in parse_file("x.yaml", under).diagnostics}
    assert [d.reason for d in parse_file("x.yaml", over).diagnostics] == [Reason.ALIAS_EXPANSION_TOO_LARGE]


@pytest.mark.parametrize(
    ("text", "described"),
    [
        (f"Bearer {SECRET}\n", "a string"),
        (f"- {SECRET}\n", "a list"),
        ("12345\n", "a number"),
        ("true\n", "true or false"),
        ("2026-12-03\n", "a date"),
    ],
)
def test_a_document_that_is_not_a_mapping_is_described_by_its_type(text: str, described: str) -> None:
    [problem] = parse_file("leak.yaml", text).diagnostics
    assert problem.reason is Reason.NOT_AN_OBJECT
    assert problem.message.endswith(f"got {described}")
    assert SECRET not in str(problem) and "12345" not in str(problem)


@pytest.mark.parametrize(
    "text",
    [
        f"a: {SECRET}-one\na: {SECRET}-two\n",  # ruamel quotes both values of a duplicate key
        f"a: !!int {SECRET}\n",  # a constructor error quoting the value (was an exception)
        f"a: !!float {SECRET}\n",
        f"a: !!timestamp {SECRET}\n",
    ],
)
def test_yaml_errors_do_not_quote_values(text: str) -> None:
    diagnostics = parse_file("x.yaml", text).diagnostics
    assert [d.reason for d in diagnostics] == [Reason.YAML_SYNTAX]
    assert SECRET not in str(diagnostics[0])


def test_a_quoted_value_is_short_and_on_one_line() -> None:
    long_kind = "K" * 500
    [problem] = parse_file(
        "x.yaml", f'apiVersion: gitxds.dev/v1alpha1\nkind: "{long_kind}\\nforged"\n'
    ).diagnostics
    assert problem.reason is Reason.UNKNOWN_KIND
    assert "\n" not in str(problem) and "K" * 81 not in problem.message
    assert '"KKK' in problem.message and '..."' in problem.message


def test_every_value_a_check_quotes_is_short_and_on_one_line() -> None:
    long_value = "9" * 300 + "\\nforged: line"
    text = HEAD + f'  dns: {{hostname: b, port: 80}}\n  connectTimeout: "{long_value}"\n'
    [problem] = parse_file("x.yaml", text).diagnostics
    assert problem.reason is Reason.INVALID_DURATION
    assert "\n" not in str(problem) and "9" * 81 not in problem.message


DEEP = ["- " * 100_000 + "x\n", "? " * 100_000 + "x\n", "a:\n" + "- " * 60_000 + "b\n"]


@pytest.mark.parametrize("text", DEEP)
def test_deep_block_nesting_is_refused_before_the_parser_recurses(text: str) -> None:
    """libyaml's composer recurses in C: tens of thousands of levels crashed the process (a segfault,
    so the check runs in a child process)."""
    program = (
        "import sys\nfrom gitxds.config import parse_file\n"
        "print(*(d.reason for d in parse_file('x.yaml', sys.stdin.read()).diagnostics))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", program], input=text, capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == [Reason.YAML_SYNTAX.value]
