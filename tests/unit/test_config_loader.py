"""Loading a directory: which files are read, documents per file, and where problems are reported."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitxds.config import load_directory, merge_files, parse_file
from gitxds.errors import Reason

BACKEND = """\
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {{name: {name}}}
spec:
  endpoints: [{{address: 10.0.0.1, port: 8000}}]
"""


def backend(name: str) -> str:
    return BACKEND.format(name=name)


def write(root: Path, relpath: str, text: str) -> None:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_reads_yaml_and_yml_recursively_and_skips_hidden(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", backend("a"))
    write(tmp_path, "deep/er/b.yml", backend("b"))
    write(tmp_path, ".git/c.yaml", backend("c"))
    write(tmp_path, ".hidden.yaml", backend("d"))
    write(tmp_path, "notes.txt", backend("e"))
    loaded = load_directory(tmp_path)
    assert [(d.name, d.file) for d in loaded.documents] == [("a", "a.yaml"), ("b", "deep/er/b.yml")]
    assert loaded.files == ("a.yaml", "deep/er/b.yml")
    assert loaded.diagnostics == ()


def test_multi_document_file_keeps_each_document_line() -> None:
    text = "# backends\n" + backend("a") + "---\n" + backend("b") + "...\n---\n" + backend("c")
    result = parse_file("backends.yaml", text)
    assert [(d.name, d.line) for d in result.documents] == [("a", 2), ("b", 8), ("c", 15)]


def test_syntax_error_in_one_document_keeps_the_others() -> None:
    text = backend("a") + "---\nkind: [Backend\n---\n" + backend("c")
    result = parse_file("x.yaml", text)
    assert [d.name for d in result.documents] == ["a", "c"]
    [problem] = result.diagnostics
    assert problem.reason is Reason.YAML_SYNTAX
    assert problem.line == 7
    assert str(problem).startswith("x.yaml:7 YamlSyntax: ")


def test_duplicate_yaml_key_is_a_syntax_error_on_its_line() -> None:
    text = backend("a").replace("kind: Backend\n", "kind: Backend\nkind: Route\n")
    [problem] = parse_file("x.yaml", text).diagnostics
    assert (problem.reason, problem.line) == (Reason.YAML_SYNTAX, 3)
    assert "duplicate key" in problem.message


def test_a_document_that_is_not_a_mapping() -> None:
    [problem] = parse_file("x.yaml", "- just\n- a list\n").diagnostics
    assert (problem.reason, problem.line) == (Reason.NOT_AN_OBJECT, 1)


def test_empty_documents_and_comment_only_files_are_fine() -> None:
    result = parse_file("x.yaml", "# nothing yet\n---\n---\n")
    assert result.documents == () and result.diagnostics == ()


def test_unknown_api_version_and_kind_suggest_the_right_spelling() -> None:
    text = backend("a").replace("gitxds.dev/v1alpha1", "gitxds.dev/v1").replace("Backend", "Bakend")
    diagnostics = {d.reason: d for d in parse_file("x.yaml", text).diagnostics}
    assert diagnostics[Reason.UNKNOWN_API_VERSION].line == 1
    assert '"gitxds.dev/v1alpha1"' in diagnostics[Reason.UNKNOWN_API_VERSION].message
    assert diagnostics[Reason.UNKNOWN_KIND].line == 2
    assert 'did you mean "Backend"' in diagnostics[Reason.UNKNOWN_KIND].message


def test_missing_kind_and_api_version() -> None:
    result = parse_file("x.yaml", "metadata: {name: a}\nspec: {}\n")
    assert {(d.path, d.reason) for d in result.diagnostics} == {
        ("apiVersion", Reason.MISSING_FIELD),
        ("kind", Reason.MISSING_FIELD),
    }


def test_duplicate_names_across_files_keep_the_first(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", backend("chat"))
    write(tmp_path, "b.yaml", "# second copy\n" + backend("chat"))
    loaded = load_directory(tmp_path)
    assert [d.file for d in loaded.documents] == ["a.yaml"]
    [problem] = loaded.diagnostics
    assert str(problem) == (
        'b.yaml:4 metadata.name: DuplicateName: Backend "chat" is already defined at a.yaml:1'
    )
    assert [(r.kind, r.name, r.reason) for r in loaded.rejected] == [
        ("Backend", "chat", Reason.DUPLICATE_NAME)
    ]


def test_same_name_in_different_kinds_is_fine() -> None:
    route = (
        "apiVersion: gitxds.dev/v1alpha1\nkind: Route\nmetadata: {name: chat}\n"
        "spec: {gateways: [edge], rules: [{backends: [{name: chat}]}]}\n"
    )
    loaded = merge_files([parse_file("a.yaml", backend("chat")), parse_file("b.yaml", route)])
    assert len(loaded.documents) == 2 and loaded.diagnostics == ()


def test_invalid_document_is_listed_as_rejected_with_its_first_reason() -> None:
    result = parse_file("x.yaml", backend("chat").replace("8000", "80000"))
    assert [(r.kind, r.name, r.reason) for r in result.rejected] == [("Backend", "chat", Reason.INVALID_PORT)]


def test_unreadable_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_bytes(b"\xff\xfe\x00bad")
    [problem] = load_directory(tmp_path).diagnostics
    assert problem.file == "bad.yaml" and problem.reason is Reason.YAML_SYNTAX


def test_parse_file_is_pure() -> None:
    assert parse_file("a.yaml", backend("a")) == parse_file("a.yaml", backend("a"))


@pytest.mark.parametrize(
    "text",
    ["&a {b: *a}\n", "{" * 2000, "- " * 3000 + "x\n", "!!binary abc\n", '"unterminated\n', "a: !custom 1\n"],
)
def test_hostile_yaml_is_a_diagnostic_not_a_crash(text: str) -> None:
    result = parse_file("x.yaml", text)
    assert result.documents == ()
    assert result.diagnostics
    assert all(d.line >= 1 for d in result.diagnostics)


def test_yaml_directive_belongs_to_the_next_document() -> None:
    result = parse_file("x.yaml", "%YAML 1.2\n---\n" + backend("a"))
    assert [(d.name, d.line) for d in result.documents] == [("a", 3)]
    assert result.diagnostics == ()


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab:- \n{}[]&*!#%'\"|>?,.0123\t")), max_size=120))
def test_any_text_gives_documents_or_diagnostics_never_an_exception(text: str) -> None:
    result = parse_file("x.yaml", text)
    last_line = text.count("\n") + 1
    assert all(0 <= d.line <= last_line for d in result.diagnostics)


def test_loading_restores_the_garbage_collector_state(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", backend("a"))
    assert gc.isenabled()
    assert [d.name for d in load_directory(tmp_path).documents] == ["a"]
    assert gc.isenabled()
    gc.disable()
    try:
        load_directory(tmp_path)
        assert not gc.isenabled()
    finally:
        gc.enable()
