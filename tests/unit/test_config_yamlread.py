"""Reading YAML sections: the fast path gives exactly what ruamel's safe loader gives."""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitxds.config import yamlread
from gitxds.config.yamlread import read_documents


@contextmanager
def ruamel_only() -> Iterator[None]:
    """Every section through ruamel's loader, as before the fast path existed."""
    with mock.patch.object(yamlread, "_read_fast", side_effect=yamlread._FallbackError):
        yield


def outcome(text: str) -> str:
    try:
        return repr(read_documents(text))
    except Exception as exc:  # an exception must be the same exception
        return f"raised {type(exc).__name__}"


def assert_same(text: str) -> None:
    fast = outcome(text)
    with ruamel_only():
        slow = outcome(text)
    assert fast == slow


def value_of(scalar: str) -> Any:
    documents, problems = read_documents(f"v: {scalar}\n")
    assert problems == []
    return documents[0].data["v"]


@pytest.mark.parametrize(
    ("scalar", "expected"),
    [
        ("yes", "yes"),
        ("no", "no"),
        ("on", "on"),
        ("off", "off"),
        ("y", "y"),
        ("true", True),
        ("False", False),
        ("TRUE", True),
        ("0755", 755),
        ("0o14", 12),
        ("0x1F", 31),
        ("0b101", 5),
        ("1_000", 1000),
        ("+12", 12),
        ("-7", -7),
        ("1e3", 1000.0),
        ("1.", 1.0),
        (".5", 0.5),
        ("12:30", "12:30"),
        ("~", None),
        ("null", None),
        ("Null", None),
        ("", None),
        ("2024-01-31", datetime.date(2024, 1, 31)),
        ("'yes'", "yes"),
        ('"0755"', "0755"),
        ("10.0.0.1", "10.0.0.1"),
        ("30s", "30s"),
    ],
)
def test_scalars_resolve_like_yaml_1_2_in_ruamel(scalar: str, expected: Any) -> None:
    value = value_of(scalar)
    assert value == expected
    assert type(value) is type(expected)
    assert_same(f"v: {scalar}\n")


def test_infinity_and_nan() -> None:
    assert value_of(".inf") == math.inf
    assert value_of("-.inf") == -math.inf
    assert math.isnan(value_of(".nan"))
    assert value_of("-.nan") == "-.nan"


def test_timestamps_with_time() -> None:
    assert value_of("2024-01-31T10:20:30Z") == datetime.datetime(2024, 1, 31, 10, 20, 30, tzinfo=datetime.UTC)
    assert_same("v: 2024-01-31 10:20:30.5 +01:00\n")


def test_keys_become_strings_and_lines_use_the_written_key() -> None:
    documents, problems = read_documents("a:\n  2: x\n  0x10: y\n  true: z\n  ~: w\n  2024-01-31: d\n")
    assert problems == []
    [document] = documents
    assert document.data == {"a": {"2": "x", "16": "y", "True": "z", "None": "w", "2024-01-31": "d"}}
    assert document.lines[("a", "0x10")] == 3
    assert document.lines[("a", "true")] == 4


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\na: 2\n",
        "a: 1\n'a': 2\n",
        "1: a\n'1': b\n",
        "1: a\n1.0: b\n",
        "1: a\ntrue: b\n",
        "0x1: a\n1: b\n",
        ".nan: a\n.nan: b\n",
        "base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n",
        "base: &b {x: 1}\nuse: {<<: [*b, {z: 1}], x: 2}\n",
        "a: {<<: 1}\n",
        "a: &a [1, {b: *a}]\n",
        "a: &x 1\nb: *x\n",
        "a: &x {k: [1, 2]}\nb: [*x, *x]\n*x : 3\n",
        "a: !!str 1\nb: !!int '2'\nc: !custom x\nd: ! 12\n",
        "a: !!binary aGk=\n",
        "a: !!set {x, y}\n",
        "a: =\n",
        "%YAML 1.1\n---\na: yes\nb: 0755\nc: 1:30\n",
        "%YAML 1.2\n---\na: yes\n",
        "? [a, b]\n: c\n",
        "? {a: b}\n: c\n",
        "a: [1, 2\n",
        "a: b\n\tc: d\n",
        "a: 'x'\n---\nb: [\n---\nc: 3\n...\n---\n...\n# only a comment\n",
        "- a\n- b: c\n  d: [e, {f: g}]\n- |\n  block\n  text\n- >-\n  folded\n  text\n",
        "---\n---\n~\n---\nnull\n---\n[]\n---\n{}\n---\nplain\n",
        "a: -_\n",
        "a: " + "[" * 70 + "]" * 70 + "\n",
        "\ufeffa: 1\n---\n\ufeffb: 2\n",
        "a: 1\r\nb: 2\r\n---\r\nc: 3\r\n",
        # where the fast path's newer libyaml reads what ruamel's refuses
        "a: [b:c]\n",
        "a: {b:c: d}\n",
        "a: [b\n  :c]\n",
        "a: [http://x, y]\n",
        "a: [b?c]\n",
        "a: {b?: c}\n",
        "a: [ ? ]\n",
        "a: [? b]\n",
        "a: [? b : c]\n",
        "a: {? b}\n",
        "a: [!t,x 1]\n",
        "a: [!<t,x> 1]\n",
        "a: &a [x]\nb: *a\n",
        "a: &a x\nb: &a y\n",
    ],
)
def test_the_fast_path_matches_ruamel(text: str) -> None:
    assert_same(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abny0x1.e:- \n{}[]&*!#%'\"|>?,~<=\t")), max_size=120))
def test_any_text_reads_as_ruamel_reads_it(text: str) -> None:
    assert_same(text)


def test_ordinary_sections_take_the_fast_path() -> None:
    text = "a: {b: [1, 'x', yes, ~]}\nc:\n  - d: 2024-01-31\n"
    document = yamlread._read_fast(text, 4)
    assert isinstance(document, yamlread.RawDocument)
    assert document.line == 5
    assert document.lines[("c", 0, "d")] == 7
    with pytest.raises(yamlread._FallbackError):
        yamlread._read_fast("a: {<<: {b: 1}}\n", 0)
