"""Golden cases: tests/istio/golden/<case>/in/*.yaml -> out/istio.yaml and out/findings.txt.

Regenerate with ``GITXDS_UPDATE_GOLDEN=1 pytest tests/istio`` and review the diff.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gitxds.compile import compile_directory
from gitxds.translators.istio import ExportResult, export
from gitxds.translators.istio.render import render_yaml

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
UPDATE_ENV = "GITXDS_UPDATE_GOLDEN"


@dataclass(frozen=True)
class Rendered:
    yaml: str
    findings: str
    result: ExportResult


def case_names() -> list[str]:
    return sorted(p.name for p in GOLDEN_DIR.iterdir() if (p / "in").is_dir())


def render_case(name: str) -> Rendered:
    compiled = compile_directory(GOLDEN_DIR / name / "in")
    assert not compiled.diagnostics, [str(d) for d in compiled.diagnostics]
    result = export(compiled.model, namespace="gitxds")
    findings = "".join(f"{finding}\n" for finding in result.findings)
    return Rendered(render_yaml(result), findings, result)


def updating() -> bool:
    return os.environ.get(UPDATE_ENV) == "1"


def check_or_update(path: Path, actual: str) -> None:
    if updating():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
        return
    assert path.exists(), f"{path} is missing: run with {UPDATE_ENV}=1 to create it"
    assert actual == path.read_text(), f"{path} differs: run with {UPDATE_ENV}=1 and review the diff"
