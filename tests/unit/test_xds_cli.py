"""`gitxds render` and `gitxds bootstrap` as a user runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from gitxds.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ai-gateway"


def envoy_validate_file(path: Path) -> subprocess.CompletedProcess[str]:
    beside = Path(sys.executable).parent / "envoy"
    envoy = str(beside) if beside.is_file() else shutil.which("envoy")
    assert envoy is not None, "no envoy binary beside the Python interpreter or on PATH: run `make venv`"
    command = [envoy, "--mode", "validate", "--log-level", "error", "--disable-hot-restart", "-c", str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_render_prints_every_resource_type_with_secrets_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(EXAMPLE), "--gateway", "edge"]) == 0
    out = capsys.readouterr().out
    documents = YAML(typ="safe").load(out)
    assert list(documents) == ["listeners", "routes", "clusters", "endpoints"]
    assert [listener["name"] for listener in documents["listeners"]] == ["edge/http"]
    assert "<redacted>" in out


def test_render_json_needs_no_gateway_when_there_is_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(EXAMPLE), "--output", "json"]) == 0
    documents = json.loads(capsys.readouterr().out)
    cluster_names = [c["name"] for c in documents["clusters"]]
    assert "chat-v1+fallback+provider-b" in cluster_names


def test_render_reports_problems_on_stderr_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "config")
    route = tmp_path / "config" / "routes" / "recommendations.yaml"
    route.write_text(route.read_text().replace("{name: recommendations}", "{name: recommendation}"))
    assert main(["render", str(tmp_path / "config")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "routes/recommendations.yaml" in captured.err
    assert "UnknownBackend" in captured.err


def test_render_an_unknown_gateway_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(EXAMPLE), "--gateway", "nope"]) == 2
    assert 'no Gateway named "nope" (known: edge)' in capsys.readouterr().err


def test_render_static_bootstrap_runs_in_envoy_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", str(EXAMPLE), "--static-bootstrap"]) == 0
    path = tmp_path / "edge.yaml"
    path.write_text(capsys.readouterr().out)
    result = envoy_validate_file(path)
    # The rendered bootstrap carries <redacted> where the provider key goes, which Envoy accepts as a
    # header value; a listener certificate would need the real secret (see the golden tests).
    assert result.returncode == 0, result.stdout + result.stderr


def test_bootstrap_prints_a_config_envoy_accepts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bootstrap", "--xds-address", "127.0.0.1:18000", "--node-id", "edge-1", "--node-cluster", "edge"]
    assert main([*args, "--delta", "--admin-port", "19901"]) == 0
    path = tmp_path / "envoy.yaml"
    path.write_text(capsys.readouterr().out)
    document = YAML(typ="safe").load(path.read_text())
    assert document["node"] == {"id": "edge-1", "cluster": "edge"}
    assert document["dynamic_resources"]["ads_config"]["api_type"] == "DELTA_GRPC"
    assert document["admin"]["address"]["socket_address"]["port_value"] == 19901
    result = envoy_validate_file(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_bootstrap_rejects_a_bad_address(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bootstrap", "--xds-address", "nohost", "--node-id", "a", "--node-cluster", "b"]) == 2
    assert "HOST:PORT" in capsys.readouterr().err
