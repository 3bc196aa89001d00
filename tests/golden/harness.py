"""Golden cases: ``cases/<case>/in/*.yaml`` -> ``cases/<case>/out/``, one file per stage.

- ``diagnostics.txt``: a case whose config has diagnostics (one ``str(Diagnostic)`` per line, in
  ``sort_key`` order).
- ``ir.yaml``: the config -> IR stage, the ``ir.Model`` that compiled (every dataclass field, enums by
  value), also for invalid cases (what survived the errors).
- ``<gateway>/<type>.yaml`` for every gateway of a case without errors: one file per non-empty
  resource type (``listeners``, ``routes``, ``clusters``, ``endpoints``, ``secrets``), each a YAML
  list sorted by name, secrets redacted; empty types have no file.

``make golden`` (``pytest --update-golden``) rewrites them all from the code.
"""

from __future__ import annotations

import dataclasses
import enum
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    gateways: tuple[str, ...]  # empty when the config has errors


def ir_document(value: Any) -> Any:
    """The IR as plain data: dataclasses as mappings of every field, enums by value, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: ir_document(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [ir_document(item) for item in value]
    return value


def compile_case(name: str) -> tuple[Compiled, dict[str, str]]:
    """The case's model and its expected-output files, rendered from the code: {relative path: text}."""
    result = compile_directory(CASES_DIR / name / "in")
    files: dict[str, str] = {}
    if result.diagnostics:
        diagnostics = sorted(result.diagnostics, key=lambda d: d.sort_key())
        files["diagnostics.txt"] = "".join(f"{d}\n" for d in diagnostics)
    files["ir.yaml"] = yaml_text(ir_document(result.model))
    if any(d.severity is Severity.ERROR for d in result.diagnostics):
        return Compiled(result.model, ()), files
    gateways = tuple(gateway.name for gateway in result.model.gateways)
    for gateway in gateways:
        for short_name, documents in resource_documents(translate_gateway(result.model, gateway)).items():
            files[f"{gateway}/{short_name}.yaml"] = yaml_text(documents)
    return Compiled(result.model, gateways), files


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
