"""Golden cases: tests/istio/golden/<case>/in/*.yaml -> out/istio.yaml and out/findings.txt.

Regenerate with ``make golden`` (``pytest --update-golden``) and review the diff.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gitxds.compile import compile_directory
from gitxds.translators.istio import ExportResult, export
from gitxds.translators.istio.render import render_yaml

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


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


def check_or_update(path: Path, actual: str, update: bool) -> None:
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
        return
    assert path.exists(), f"{path} is missing: run `make golden` to create it"
    assert actual == path.read_text(), f"{path} differs: run `make golden` and review the diff"
