"""``gitxds validate``: what a user sees for a broken directory, a valid one, JSON output and usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitxds.cli import main

HEAD = "apiVersion: gitxds.dev/v1alpha1\nkind: {kind}\nmetadata: {{name: {name}}}\nspec:\n"

FILES = {
    "gateways.yaml": HEAD.format(kind="Gateway", name="edge")
    + "  proxies: {cluster: edge}\n  listeners: [{name: http, port: 10000}]\n---\n"
    + HEAD.format(kind="Gateway", name="internal")
    + """\
  proxies: {cluster: internal}
  listeners:
    - {name: http, port: 10000}
    - {name: alt, port: 10000}
    - {name: https, port: 10443, protocol: HTTPS}
""",
    "backends/chat.yaml": HEAD.format(kind="Backend", name="chat-v1")
    + """\
  endpoints:
    - {address: 10.0.0.1, port: 99999}
    - {address: 10.0.0.2, port: 8000, wieght: 2}
  connectTimeout: 5 seconds
---
"""
    + HEAD.format(kind="Backend", name="chat-v2")
    + "  endpoints: [{address: 10.0.0.3, port: 8000}]\n  dns: {hostname: chat.internal, port: 80}\n---\n"
    + HEAD.format(kind="Backend", name="chat-v3")
    + "  endpoints: [{address: 10.0.0.3, port: 8000}]\n",
    "backends/broken.yml": "kind: Backend\nmetadata: {name: [oops\n",
    "backends/copy.yaml": HEAD.format(kind="Backend", name="chat-v3")
    + "  dns: {hostname: b.internal, port: 80}\n",
    "routes/chat.yaml": HEAD.format(kind="Route", name="chat")
    + """\
  gateways: [edge]
  rules:
    - backends:
        - {name: chat-v3, weight: 90}
        - {name: chat-v4, weight: 10}
---
"""
    + HEAD.format(kind="Route", name="zero")
    + "  gateways: [edge]\n  rules:\n    - backends: [{name: chat-v3, weight: 0}]\n---\n"
    + HEAD.format(kind="Route", name="regex")
    + "  gateways: [edge]\n  rules:\n    - backends: [{name: chat-v3}]\n"
    + '      matches: [{path: {regex: "/(?<=v1)x"}}]\n',
    "routes/orphans.yaml": HEAD.format(kind="Route", name="orphan")
    + "  rules: [{backends: [{name: chat-v3}]}]\n---\n"
    + HEAD.format(kind="Route", name="lost")
    + "  gateways: [egde]\n  rules: [{backends: [{name: chat-v3}]}]\n",
    "policies.yaml": HEAD.format(kind="RateLimitPolicy", name="tiered")
    + "  key: {header: x-api-key}\n  limits: {default: 20/fortnight}\n---\n"
    + HEAD.format(kind="AuthPolicie", name="keys")
    + "  extAuthz: {backend: chat-v3}\n---\n"
    + HEAD.format(kind="AuthPolicy", name="keys2").replace("v1alpha1", "v1beta1")
    + "  extAuthz: {backend: chat-v3}\n",
}

EXPECTED = [
    "backends/broken.yml:2 YamlSyntax: ",
    "backends/chat.yaml:6 spec.endpoints[0].port: InvalidPort: port 99999 is outside 1-65535",
    'backends/chat.yaml:7 spec.endpoints[1].wieght: UnknownField: unknown field "wieght" (did you mean',
    'backends/chat.yaml:8 spec.connectTimeout: InvalidDuration: "5 seconds" is not a duration',
    "backends/chat.yaml:15 spec.dns: ConflictingFields: endpoints and dns are both set",
    'backends/copy.yaml:3 metadata.name: DuplicateName: Backend "chat-v3" is already defined at '
    "backends/chat.yaml:17",
    "gateways.yaml:15 spec.listeners[1].port: DuplicateListenerPort: port 10000 is already used",
    "gateways.yaml:16 spec.listeners[2].protocol: ConflictingFields: an HTTPS listener needs tls",
    "policies.yaml:6 spec.limits.default: InvalidRate: ",
    'policies.yaml:9 kind: UnknownKind: unknown kind "AuthPolicie" (did you mean "AuthPolicy"?)',
    'policies.yaml:14 apiVersion: UnknownApiVersion: unknown apiVersion "gitxds.dev/v1beta1"',
    'routes/chat.yaml:9 spec.rules[0].backends[1].name: UnknownBackend: no Backend named "chat-v4" '
    "(known: chat-v3)",
    "routes/chat.yaml:17 spec.rules[0].backends: AllWeightsZero: ",
    "routes/chat.yaml:26 spec.rules[0].matches[0].path.regex: InvalidRegex: ",
    "routes/orphans.yaml:4 spec.gateways: RouteWithoutGateway: ",
    'routes/orphans.yaml:11 spec.gateways[0]: UnknownGateway: no Gateway named "egde" (known: edge)',
]


def write_tree(root: Path, files: dict[str, str]) -> None:
    for relpath, text in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_every_mistake_is_printed_with_file_line_and_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tree(tmp_path, FILES)
    assert main(["validate", str(tmp_path)]) == 1
    printed = capsys.readouterr().out.splitlines()
    for expected in EXPECTED:
        assert any(line.startswith(expected) for line in printed), f"missing: {expected}\n" + "\n".join(
            printed
        )
    problems, summary = printed[:-1], printed[-1]
    assert len(problems) == len(EXPECTED)
    assert summary == f"{len(EXPECTED)} errors in 7 files"
    assert problems == sorted(
        problems, key=lambda line: (line.split(":")[0], int(line.split(":")[1].split()[0]))
    )


def test_json_output_lists_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_tree(tmp_path, FILES)
    assert main(["validate", str(tmp_path), "--output", "json"]) == 1
    problems = json.loads(capsys.readouterr().out)
    assert len(problems) == len(EXPECTED)
    assert problems[1] == {
        "file": "backends/chat.yaml",
        "line": 6,
        "path": "spec.endpoints[0].port",
        "reason": "InvalidPort",
        "message": "port 99999 is outside 1-65535",
        "severity": "error",
        "text": "backends/chat.yaml:6 spec.endpoints[0].port: InvalidPort: port 99999 is outside 1-65535",
    }


def test_valid_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_tree(
        tmp_path,
        {
            "gateways/edge.yaml": FILES["gateways.yaml"].split("---")[0],
            "backends.yaml": HEAD.format(kind="Backend", name="chat")
            + "  dns: {hostname: c.internal, port: 80}\n",
            "route.yaml": HEAD.format(kind="Route", name="chat")
            + "  gateways: [edge]\n  rules: [{backends: [{name: chat}]}]\n",
        },
    )
    assert main(["validate", str(tmp_path)]) == 0
    assert capsys.readouterr().out == "ok: 3 objects in 3 files\n"
    assert main(["validate", str(tmp_path), "--output", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_missing_directory_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "nope")]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_help_explains_output_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["validate", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "--output {text,json}" in text and "Exit status: 0" in text


def test_example_directory_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "ai-gateway"
    assert main(["validate", str(example)]) == 0, capsys.readouterr().out
