"""`gitxds export ratelimit`: the global rate limit service's configuration, as a user runs it."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from gitxds.cli import main

HEADER = """\
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {name: ratelimit}
spec: {endpoints: [{address: 127.0.0.1, port: 8081}], protocol: GRPC}
"""


def _policy(name: str, mode: str, limits: str, domain: str = "gitxds") -> str:
    service = f"\n  service: {{backend: ratelimit, domain: {domain}}}" if mode == "global" else ""
    return f"""\
---
apiVersion: gitxds.dev/v1alpha1
kind: RateLimitPolicy
metadata: {{name: {name}}}
spec:
  mode: {mode}
  key: {{header: x-api-key}}
  tier: {{header: x-tier, default: free}}
  limits: {limits}{service}
"""


def _config(tmp_path: Path, *policies: str) -> Path:
    directory = tmp_path / "config"
    directory.mkdir()
    (directory / "policies.yaml").write_text(HEADER + "".join(policies))
    return directory


def _tier(value: str, unit: str, requests: int) -> dict[str, object]:
    limit = {"unit": unit, "requests_per_unit": requests}
    return {"key": "tier", "value": value, "descriptors": [{"key": "key", "rate_limit": limit}]}


def test_one_document_per_domain_with_a_counter_per_key_under_each_tier(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(
        tmp_path,
        _policy("tiered", "global", "{free: 20/minute, pro: 200/minute}"),
        _policy("burst", "global", "{free: 5/second}", domain="burst"),
        _policy("local-only", "local", "{free: 1/hour}"),
    )
    assert main(["export", "ratelimit", str(config)]) == 0
    documents = list(YAML(typ="safe").load_all(capsys.readouterr().out))
    assert documents == [
        {"domain": "burst", "descriptors": [_tier("free", "second", 5)]},
        {"domain": "gitxds", "descriptors": [_tier("free", "minute", 20), _tier("pro", "minute", 200)]},
    ]


def test_output_dir_gets_one_file_per_domain(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        _policy("a", "global", "{free: 20/minute}"),
        _policy("b", "global", "{free: 1/hour}", domain="team/b"),
    )
    out = tmp_path / "out"
    assert main(["export", "ratelimit", str(config), "--output-dir", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["gitxds.yaml", "team_b.yaml"]
    assert YAML(typ="safe").load((out / "team_b.yaml").read_text())["domain"] == "team/b"


def test_policies_disagreeing_within_a_domain_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(
        tmp_path,
        _policy("a", "global", "{free: 20/minute}"),
        _policy("b", "global", "{free: 30/minute}"),
    )
    assert main(["export", "ratelimit", str(config)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert 'RateLimitPolicies "a" and "b" share the domain "gitxds"' in captured.err


def test_no_global_policy_exports_nothing_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, _policy("local-only", "local", "{free: 1/hour}"))
    assert main(["export", "ratelimit", str(config)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no RateLimitPolicy with mode: global" in captured.err


def test_an_invalid_config_exports_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, _policy("bad", "global", "{free: 20/fortnight}"))
    assert main(["export", "ratelimit", str(config)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "InvalidRate" in captured.err
