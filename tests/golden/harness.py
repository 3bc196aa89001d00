"""Golden cases: ``cases/<case>/in/*.yaml`` -> ``cases/<case>/out/``.

A case whose config has diagnostics expects ``out/diagnostics.txt`` (one ``str(Diagnostic)`` per line,
in ``sort_key`` order). A case without errors also expects one file per non-empty resource type of its
first gateway (``listeners.yaml``, ``routes.yaml``, ``clusters.yaml``, ``endpoints.yaml``,
``secrets.yaml``), each a YAML list sorted by name, secrets redacted; empty types have no file.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.json_format import MessageToJson

from gitxds import ir
from gitxds.compile import compile_directory
from gitxds.errors import Severity
from gitxds.translators.xds import resource_documents, static_bootstrap, translate_gateway
from gitxds.yamltext import yaml_text

CASES_DIR = Path(__file__).resolve().parent / "cases"
TEST_CERTIFICATE = Path(__file__).resolve().parent / "test-certificate.pem"
HEADER_SECRET_VALUE = "golden-secret-value"


def case_names() -> list[str]:
    return sorted(p.name for p in CASES_DIR.iterdir() if (p / "in").is_dir())


def valid_case_names() -> list[str]:
    return [name for name in case_names() if not name.startswith("invalid-")]


@dataclass(frozen=True)
class Compiled:
    model: ir.Model
    gateway: str | None  # None when the config has errors


def compile_case(name: str) -> tuple[Compiled, dict[str, str]]:
    """The case's model and its expected-output files, rendered from the code: {file name: text}."""
    result = compile_directory(CASES_DIR / name / "in")
    files: dict[str, str] = {}
    if result.diagnostics:
        diagnostics = sorted(result.diagnostics, key=lambda d: d.sort_key())
        files["diagnostics.txt"] = "".join(f"{d}\n" for d in diagnostics)
    if any(d.severity is Severity.ERROR for d in result.diagnostics) or not result.model.gateways:
        return Compiled(result.model, None), files
    gateway = result.model.gateways[0].name
    for short_name, documents in resource_documents(translate_gateway(result.model, gateway)).items():
        files[f"{short_name}.yaml"] = yaml_text(documents)
    return Compiled(result.model, gateway), files


def _header_secret_names(ops: ir.HeaderOps) -> set[str]:
    return {value.name for _, value in (*ops.set, *ops.add) if isinstance(value, ir.SecretRef)}


def test_secrets(model: ir.Model) -> dict[str, str]:
    """Values for every secret the model names: the test certificate for listeners, a word for headers."""
    secrets = {
        listener.tls_secret: TEST_CERTIFICATE.read_text()
        for gateway in model.gateways
        for listener in gateway.listeners
        if listener.tls_secret
    }
    header_ops = [backend.request_headers for backend in model.backends]
    header_ops += [
        ops
        for route in model.routes
        for rule in route.rules
        for ops in (rule.request_headers, rule.response_headers)
    ]
    for ops in header_ops:
        secrets.update(dict.fromkeys(_header_secret_names(ops), HEADER_SECRET_VALUE))
    return secrets


def envoy_binary() -> str:
    beside = Path(sys.executable).parent / "envoy"
    found = str(beside) if beside.is_file() else shutil.which("envoy")
    if found is None:
        raise AssertionError("no envoy binary beside the Python interpreter or on PATH: run `make venv`")
    return found


def envoy_validate(model: ir.Model, gateway: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    """``envoy --mode validate`` on the gateway's static bootstrap, with test secret values."""
    bootstrap = static_bootstrap(model, gateway, test_secrets(model), admin_port=0)
    path = workdir / "bootstrap.json"
    path.write_text(MessageToJson(bootstrap))
    command = [
        envoy_binary(),
        "--mode",
        "validate",
        "--log-level",
        "error",
        "--disable-hot-restart",
        "-c",
        str(path),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
