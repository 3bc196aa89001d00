"""Damaged Istio input never crashes the import, and whatever it writes loads without diagnostics."""

from __future__ import annotations

import copy
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitxds.config import load_directory
from gitxds.errors import Severity
from gitxds.importers.istio import SourceDocument, import_istio, render_files

from .crd_validator import SAMPLES_DIR, load_documents

SAMPLE_DOCUMENTS = [doc for path in sorted(SAMPLES_DIR.glob("*.yaml")) for doc in load_documents(path)]
BOOKINFO_RULES = load_documents(SAMPLES_DIR / "destination-rule-all.yaml")
ODD_VALUES: list[Any] = [
    None,
    0,
    -1,
    "x",
    "",
    [],
    {},
    [1],
    {"a": 1},
    1.5,
    True,
    "5s",
    "UPPER.Case",
    "a.b.c.svc.cluster.local",
]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from _paths(child, (*prefix, key))


def _damaged(seed: int) -> tuple[dict[str, Any], tuple[Any, ...]]:
    """A sample with one value, anywhere in it, replaced by something odd."""
    rnd = random.Random(seed)
    document = copy.deepcopy(rnd.choice(SAMPLE_DOCUMENTS))
    path = rnd.choice(list(_paths(document)))
    node = document
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = rnd.choice(ODD_VALUES)
    return document, path


@pytest.mark.parametrize("batch", range(2))
def test_damaged_samples_are_refused_or_imported_into_loadable_config(batch: int, tmp_path: Path) -> None:
    for seed in range(batch * 60, (batch + 1) * 60):
        document, damaged = _damaged(seed)
        sources = [SourceDocument("damaged.yaml", document)]
        sources += [SourceDocument("bookinfo.yaml", d) for d in BOOKINFO_RULES]
        result = import_istio(sources, gateway="edge")
        refused = [f for f in result.findings if f.severity is Severity.ERROR]
        assert all(f.path or f.reason == "Refused" for f in refused), damaged
        directory = tmp_path / str(seed)
        directory.mkdir()
        for name, text in render_files(result.documents, ["damaged.yaml"]).items():
            (directory / name).write_text(text)
        assert [str(d) for d in load_directory(directory).diagnostics] == [], (seed, damaged)


def _import_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gitxds", "import", "istio", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_istio_import_reads_under_the_config_limits(tmp_path: Path) -> None:
    """An alias bomb, a FIFO and an oversized file are refused at once, with the file named."""
    levels = ["    a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]"]
    pairs = zip("abcdefgh", "bcdefghi", strict=True)
    levels += [f"    {b}: &{b} [{','.join([f'*{a}'] * 9)}]" for a, b in pairs]
    bomb = tmp_path / "bomb.yaml"
    head = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nspec:\n  x:\n"
    bomb.write_text(head + "\n".join(levels))
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    big = tmp_path / "big.yaml"
    big.write_text("# padding\n" * (4 * 1024 * 1024))  # 40 MiB of comments
    for path, expected in [
        (bomb, "AliasExpansionTooLarge"),
        (fifo, "not a regular file"),
        (big, "more than"),
    ]:
        completed = _import_cli(str(path), "--output", str(tmp_path / "out"))
        assert completed.returncode == 2, completed.stderr
        assert str(path) in completed.stderr and expected in completed.stderr, completed.stderr
        assert "Traceback" not in completed.stderr


def test_the_cli_imports_a_multi_document_sample(tmp_path: Path) -> None:
    completed = _import_cli(str(SAMPLES_DIR / "destination-rule-all.yaml"), "--output", str(tmp_path))
    assert completed.returncode in (0, 1), completed.stderr
    assert (tmp_path / "backends.yaml").read_text().count("kind: Backend") >= 4
