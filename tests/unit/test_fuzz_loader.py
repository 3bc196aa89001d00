"""Fuzzing the way in: malformed YAML and malformed objects never crash gitxds.

Whatever text a file holds, the loader and the compiler answer with diagnostics (never an exception
or a traceback), every document is either accepted or explained, and through the reconciler a
malformed change leaves the served snapshot exactly as it was.
"""

from __future__ import annotations

import asyncio
import copy
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from ruamel.yaml import YAML

from gitxds.compile import compile_directory
from gitxds.config import parse_file
from gitxds.errors import Diagnostic, Reason
from gitxds.gitops.reconciler import Reconciler
from gitxds.gitops.secrets import SecretStore
from gitxds.metrics import Metrics
from gitxds.translators.xds import translate_gateway
from gitxds.xds.cache import SnapshotCache

API = "gitxds.dev/v1alpha1"
VALID: list[dict[str, Any]] = [
    {
        "apiVersion": API,
        "kind": "Gateway",
        "metadata": {"name": "edge"},
        "spec": {"proxies": {"cluster": "edge"}, "listeners": [{"name": "http", "port": 10000}]},
    },
    {
        "apiVersion": API,
        "kind": "Backend",
        "metadata": {"name": "chat"},
        "spec": {"endpoints": [{"address": "10.0.0.1", "port": 8000}], "connectTimeout": "1s"},
    },
    {
        "apiVersion": API,
        "kind": "Backend",
        "metadata": {"name": "authz"},
        "spec": {"endpoints": [{"address": "10.0.0.2", "port": 9000}], "protocol": "GRPC"},
    },
    {
        "apiVersion": API,
        "kind": "RateLimitPolicy",
        "metadata": {"name": "tiered"},
        "spec": {
            "key": {"header": "x-api-key"},
            "tier": {"header": "x-tier", "default": "free"},
            "limits": {"free": "20/minute", "pro": "200/minute"},
        },
    },
    {
        "apiVersion": API,
        "kind": "AuthPolicy",
        "metadata": {"name": "api-keys"},
        "spec": {"extAuthz": {"backend": "authz", "timeout": "200ms", "includeHeaders": ["x-api-key"]}},
    },
    {
        "apiVersion": API,
        "kind": "Route",
        "metadata": {"name": "chat"},
        "spec": {
            "gateways": ["edge"],
            "rules": [
                {
                    "matches": [{"path": {"prefix": "/v1"}, "headers": [{"name": "x-model", "exact": "a"}]}],
                    "backends": [{"name": "chat", "weight": 90}],
                    "timeout": "30s",
                    "retries": {"attempts": 2},
                    "rateLimit": "tiered",
                    "auth": "api-keys",
                }
            ],
        },
    },
]

YAML_PIECES = [
    "apiVersion: gitxds.dev/v1alpha1\n", "kind: Route\n", "kind: Gateway\n", "metadata:", " {name: x}",
    "spec:", "\n", "  ", "\t", "- ", ": ", "---\n", "...\n", "{", "}", "[", "]", ",", "&a ", "*a", "*b",
    "!!binary ", "!!python/object ", "? ", "|\n", ">-\n", "'", '"', "#", "%YAML 1.2\n", "<<: *a\n",
    "port: 99999", "port: -1", "weight: 1e999", "0x1F", "~", "null", "true", "name: " + "n" * 80, "\x00",
    "\ufeff", "é", "\u2028",
]  # fmt: skip

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _dump(documents: list[Any]) -> str:
    stream = io.StringIO()
    YAML(typ="safe", pure=True).dump_all(documents, stream)
    return stream.getvalue()


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value inside ``node`` (mapping keys and list indexes)."""
    if isinstance(node, dict):
        items: Any = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return
    for key, child in items:
        yield (*prefix, key)
        yield from _paths(child, (*prefix, key))


@st.composite
def malformed_documents(draw: st.DrawFn) -> tuple[int, dict[str, Any], str]:
    """(index into VALID, a mutated copy of that document, the kind of mutation)."""
    index = draw(st.integers(0, len(VALID) - 1))
    document = copy.deepcopy(VALID[index])
    path = draw(st.sampled_from(list(_paths(document))))
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    mutation = draw(st.sampled_from(["replace", "delete", "unknown-key"]))
    if mutation == "replace":
        parent[path[-1]] = draw(VALUES)
    elif mutation == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict) and path[-2:-1] != ("limits",):  # limits: tier names are free-form
        parent["zzUnknown" + draw(st.text("abc", max_size=3))] = draw(SCALARS)
    else:
        mutation = "none"
    return index, document, mutation


def _well_formed(diagnostic: Diagnostic, file: str) -> None:
    assert diagnostic.file == file
    assert diagnostic.line >= 0
    assert isinstance(diagnostic.reason, Reason)
    assert diagnostic.message and "Traceback" not in diagnostic.message
    assert str(diagnostic).startswith(file)


@settings(max_examples=250, deadline=None)
@given(st.lists(st.sampled_from(YAML_PIECES) | st.text(max_size=6), max_size=30).map("".join))
def test_any_text_becomes_documents_or_diagnostics(text: str) -> None:
    result = parse_file("fuzz.yaml", text)
    for diagnostic in result.diagnostics:
        _well_formed(diagnostic, "fuzz.yaml")
    assert len(result.rejected) <= len(result.diagnostics)


@settings(max_examples=250, deadline=None)
@given(malformed_documents())
def test_a_malformed_object_is_accepted_or_explained(mutated: tuple[int, dict[str, Any], str]) -> None:
    _, document, mutation = mutated
    result = parse_file("fuzz.yaml", _dump([document]))
    for diagnostic in result.diagnostics:
        _well_formed(diagnostic, "fuzz.yaml")
    assert len(result.documents) == 1 or result.diagnostics  # never silently dropped
    if mutation == "unknown-key":
        assert not result.documents
        assert any(d.reason is Reason.UNKNOWN_FIELD for d in result.diagnostics)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(malformed_documents())
def test_a_directory_with_a_malformed_file_compiles_the_rest(
    mutated: tuple[int, dict[str, Any], str],
) -> None:
    index, document, _ = mutated
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        others = [d for i, d in enumerate(VALID) if i != index]
        (root / "valid.yaml").write_text(_dump(others))
        (root / "changed.yaml").write_text(_dump([document]))
        result = compile_directory(root)
        for diagnostic in result.diagnostics:
            assert diagnostic.file in ("valid.yaml", "changed.yaml")
        for gateway in result.model.gateways:
            translate_gateway(result.model, gateway.name)  # whatever compiled, translates


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Reconciler, Path, asyncio.AbstractEventLoop]]:
    loop = asyncio.new_event_loop()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for i, document in enumerate(VALID):
            (root / f"doc{i}.yaml").write_text(_dump([document]))
        reconciler = Reconciler(
            root, SnapshotCache(), Metrics(CollectorRegistry()), secrets=SecretStore(None)
        )
        assert loop.run_until_complete(reconciler.reload("start")).accepted
        yield reconciler, root, loop
    loop.close()


def _replace(path: Path, text: str) -> None:
    """A new file by rename, so the loader always sees a change (new inode)."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    os.replace(partial, path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(malformed_documents(), st.booleans())
def test_a_malformed_change_leaves_the_served_snapshot_unchanged(
    served: tuple[Reconciler, Path, asyncio.AbstractEventLoop],
    mutated: tuple[int, dict[str, Any], str],
    as_broken_yaml: bool,
) -> None:
    reconciler, root, loop = served
    index, document, mutation = mutated
    before = reconciler.cache.get("edge")
    assert before is not None
    text = _dump([document]) + ("key: [unclosed\n" if as_broken_yaml else "")
    try:
        _replace(root / f"doc{index}.yaml", text)
        attempt = loop.run_until_complete(reconciler.reload("fuzz"))
        if as_broken_yaml or mutation == "unknown-key":
            assert not attempt.accepted
        if not attempt.accepted:
            assert attempt.diagnostics
            assert reconciler.cache.get("edge") is before
            assert reconciler.status.served is not None
    finally:
        _replace(root / f"doc{index}.yaml", _dump([VALID[index]]))
        assert loop.run_until_complete(reconciler.reload("restore")).accepted
