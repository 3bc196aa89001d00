"""Golden tests of ``gitxds export istio``: every case's output is reviewed text and valid Istio."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gitxds.compile import compile_directory
from gitxds.translators.istio import export

from .crd_validator import CrdValidator
from .golden_cases import GOLDEN_DIR, case_names, check_or_update, render_case

CASES = case_names()


def test_there_are_golden_cases() -> None:
    assert len(CASES) >= 3


@pytest.mark.parametrize("case", CASES)
def test_golden_output(case: str, update_golden: bool) -> None:
    rendered = render_case(case)
    check_or_update(GOLDEN_DIR / case / "out" / "istio.yaml", rendered.yaml, update_golden)
    check_or_update(GOLDEN_DIR / case / "out" / "findings.txt", rendered.findings, update_golden)


@pytest.mark.parametrize("case", CASES)
def test_golden_output_passes_strict_crd_validation(case: str, crd_validator: CrdValidator) -> None:
    documents = [d for d in yaml.safe_load_all((GOLDEN_DIR / case / "out" / "istio.yaml").read_text()) if d]
    checked = [d for d in documents if crd_validator.knows(d)]
    assert len(checked) == len(documents)
    problems = {
        f"{d['kind']}/{d['metadata']['name']}": [str(p) for p in crd_validator.validate(d)] for d in checked
    }
    assert checked
    assert problems == {name: [] for name in problems}


def test_the_shipped_example_exports_to_valid_istio(crd_validator: CrdValidator) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "ai-gateway"
    compiled = compile_directory(example)
    assert [str(d) for d in compiled.diagnostics] == []
    documents = export(compiled.model).documents
    assert {"Gateway", "DestinationRule", "VirtualService"} <= {d["kind"] for d in documents}
    problems = [
        f"{d['kind']}/{d['metadata']['name']}: {p}" for d in documents for p in crd_validator.validate(d)
    ]
    assert problems == []
