"""``gitxds diff``: which Envoy resources a change adds, removes or modifies, for PR review."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitxds.cli import main as cli_main

from .helpers import BACKENDS, git, route, write_config


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = write_config(tmp_path / "repo" / "config", "blue").parent
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "blue")
    return repo


def test_no_change_exits_zero(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["diff", str(repo / "config")]) == 0
    assert "no change to any Envoy resource" in capsys.readouterr().out


def test_a_work_tree_edit_shows_the_modified_route_field(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "config" / "route.yaml").write_text(route("green"))
    assert cli_main(["diff", str(repo / "config")]) == 1
    out = capsys.readouterr().out
    assert "~ edge routes/edge/10000" in out
    assert "-      cluster: blue\n+      cluster: green" in out  # the field-level change
    # Only backends a route uses become clusters: blue's go, green's come.
    assert "  - edge clusters/blue" in out and "  + edge clusters/green" in out
    assert "  - edge listeners/" not in out and "  ~ edge listeners/" not in out


def test_revisions_added_backend_and_json_output(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    extra = BACKENDS.replace("name: blue", "name: purple").split("---")[0]
    (repo / "config" / "purple.yaml").write_text(extra)
    (repo / "config" / "route.yaml").write_text(route("purple"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "purple")
    code = cli_main(["diff", "--base", "HEAD~1", "--head", "HEAD", "--output", "json", str(repo / "config")])
    assert code == 1
    changes = json.loads(capsys.readouterr().out)
    kinds = {(c["type"], c["name"], c["change"]) for c in changes}
    assert ("clusters", "purple", "added") in kinds
    assert ("endpoints", "purple", "added") in kinds
    assert ("clusters", "blue", "removed") in kinds
    assert any(c["type"] == "routes" and c["change"] == "modified" for c in changes)


def test_an_invalid_head_is_a_usage_error_with_diagnostics(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "config" / "route.yaml").write_text(route("nope"))
    assert cli_main(["diff", str(repo / "config")]) == 2
    err = capsys.readouterr().err
    assert "route.yaml:" in err and "UnknownBackend" in err


def test_the_diff_prints_long_values_on_one_line_as_render_does(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long_path = "/v1/" + "/".join(f"segment-{index}" for index in range(20))
    (repo / "config" / "route.yaml").write_text(
        route("blue").replace("rules: [{", f"rules: [{{matches: [{{path: {{exact: {long_path}}}}}], ")
    )
    assert cli_main(["diff", str(repo / "config")]) == 1
    diff = capsys.readouterr().out
    assert cli_main(["render", str(repo / "config")]) == 0
    rendered = capsys.readouterr().out
    [line] = [line.strip() for line in rendered.splitlines() if long_path in line]
    added = [text[1:].strip() for text in diff.splitlines() if text.startswith("+") and long_path in text]
    assert added == [line], "the diff's added line is the rendered line, unwrapped"
