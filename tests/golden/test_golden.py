"""Every golden case renders exactly its expected files, and Envoy accepts every valid case."""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness import CASES_DIR, case_names, compile_case, envoy_validate, valid_case_names


@pytest.mark.parametrize("case", case_names())
def test_case_renders_its_golden_files(case: str, update_golden: bool) -> None:
    _, actual = compile_case(case)
    out = CASES_DIR / case / "out"
    if update_golden:
        shutil_rmtree(out)
        out.mkdir(parents=True)
        for name, text in actual.items():
            (out / name).write_text(text)
        return
    expected = {p.name: p.read_text() for p in out.glob("*")} if out.is_dir() else {}
    assert sorted(actual) == sorted(expected), "rerun with --update-golden and review the diff"
    for name, text in actual.items():
        assert text == expected[name], (
            f"{case}/out/{name} differs: rerun with --update-golden, review the diff"
        )


@pytest.mark.parametrize("case", valid_case_names())
def test_envoy_accepts_the_static_bootstrap(case: str, tmp_path: Path) -> None:
    compiled, _ = compile_case(case)
    assert compiled.gateway is not None, f"valid case {case} has errors or no gateway"
    result = envoy_validate(compiled.model, compiled.gateway, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def shutil_rmtree(path: Path) -> None:
    if path.is_dir():
        for child in path.iterdir():
            child.unlink()
        path.rmdir()
