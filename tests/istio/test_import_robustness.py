"""Damaged Istio input never crashes the import, and whatever it writes loads without diagnostics."""

from __future__ import annotations

import copy
import random
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
