"""Every golden case renders exactly its expected files (diagnostics, IR, every gateway's resources),
and Envoy accepts every gateway of every valid case."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .harness import CASES_DIR, case_names, compile_case, envoy_validate, valid_case_names


def _expected_files(out: Path) -> dict[str, str]:
    if not out.is_dir():
        return {}
    return {str(p.relative_to(out)): p.read_text() for p in out.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", case_names())
def test_case_renders_its_golden_files(case: str, update_golden: bool) -> None:
    _, actual = compile_case(case)
    out = CASES_DIR / case / "out"
    if update_golden:
        shutil.rmtree(out, ignore_errors=True)
        for name, text in actual.items():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_text(text)
        return
    expected = _expected_files(out)
    assert sorted(actual) == sorted(expected), "run `make golden` and review the diff"
    for name, text in actual.items():
        assert text == expected[name], f"{case}/out/{name} differs: run `make golden`, review the diff"


def test_the_golden_cases_cover_several_gateways_in_one_case() -> None:
    assert any(len(compile_case(case)[0].gateways) > 1 for case in valid_case_names())


@pytest.mark.parametrize("case", valid_case_names())
def test_envoy_accepts_the_static_bootstrap_of_every_gateway(case: str, tmp_path: Path) -> None:
    compiled, _ = compile_case(case)
    assert compiled.gateways, f"valid case {case} has errors or no gateway"
    for gateway in compiled.gateways:
        result = envoy_validate(compiled.model, gateway, tmp_path)
        assert result.returncode == 0, f"{gateway}: {result.stdout}{result.stderr}"
