"""``gitxds schema``: the committed schema is current, and every example and valid golden input passes it.

Examples carry the yaml-language-server modeline so editors check them against the committed file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

from gitxds.cli.schema import render_schema

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "schema" / "gitxds.schema.json"
EXAMPLES = sorted((ROOT / "examples").rglob("*.yaml"))
GOLDEN_INPUTS = sorted(
    path
    for case in (ROOT / "tests" / "golden" / "cases").iterdir()
    if not (case / "out" / "diagnostics.txt").exists()
    for path in (case / "in").rglob("*.yaml")
)
MODELINE = "# yaml-language-server: $schema="


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def documents(path: Path) -> list[Any]:
    return [doc for doc in YAML(typ="safe").load_all(path.read_text()) if doc is not None]


def problems(validator: Draft202012Validator, document: Any) -> list[str]:
    """Schema errors, from the document's own kind when it has a known one (not all of ``oneOf``)."""
    schema = validator.schema
    own = schema["discriminator"]["mapping"].get(document.get("kind"))
    if own is not None:
        defs_only = {k: v for k, v in schema.items() if k not in ("oneOf", "discriminator")}
        validator = Draft202012Validator({**defs_only, "$ref": own})
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_the_committed_schema_is_what_gitxds_schema_prints() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "gitxds", "schema"], capture_output=True, text=True, check=True
    ).stdout
    assert printed == render_schema()
    assert SCHEMA_FILE.read_text() == printed, "run: make schema"


def test_there_are_inputs_to_check() -> None:
    assert len(EXAMPLES) >= 5 and len(GOLDEN_INPUTS) >= 30


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_names_the_schema_and_passes_it(path: Path, validator: Draft202012Validator) -> None:
    first_line = path.read_text().splitlines()[0]
    assert first_line.startswith(MODELINE), first_line
    assert (path.parent / first_line.removeprefix(MODELINE)).resolve() == SCHEMA_FILE
    for document in documents(path):
        assert problems(validator, document) == []


@pytest.mark.parametrize("path", GOLDEN_INPUTS, ids=lambda p: str(p.relative_to(ROOT / "tests" / "golden")))
def test_every_valid_golden_input_passes_the_schema(path: Path, validator: Draft202012Validator) -> None:
    for document in documents(path):
        assert problems(validator, document) == []


BACKEND = {
    "apiVersion": "gitxds.dev/v1alpha1",
    "kind": "Backend",
    "metadata": {"name": "chat"},
    "spec": {"kubernetes": {"service": "chat", "namespace": "ai", "port": 8000}, "connectTimeout": "1s"},
}


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d["spec"].update(connectTimeout=1), "spec/connectTimeout"),  # a duration needs a unit
        (lambda d: d["spec"].update(conectTimeout="1s"), "spec"),  # unknown key
        (lambda d: d["spec"]["kubernetes"].update(port=70000), "spec/kubernetes/port"),
        (lambda d: d["spec"]["kubernetes"].update(selector={"Bad Key": "v1"}), "spec/kubernetes/selector"),
        (lambda d: d["spec"]["kubernetes"].update(selector={"version": "-v1"}), "spec/kubernetes/selector"),
        (lambda d: d["spec"].update(selector={"version": "v1"}), "spec"),
        (lambda d: d["metadata"].update(name="Chat_V2"), "metadata/name"),
        (lambda d: d["spec"].update(loadBalancer="FASTEST"), "spec/loadBalancer"),
        (lambda d: d.update(kind="Backends"), "kind"),
    ],
)
def test_the_schema_flags_what_validate_would(
    change: Any, where: str, validator: Draft202012Validator
) -> None:
    assert problems(validator, BACKEND) == []
    document = json.loads(json.dumps(BACKEND))
    change(document)
    found = problems(validator, document)
    assert found, document
    paths = [p.partition(":")[0] for p in found]
    assert any(path and f"{where}/".startswith(f"{path}/") for path in paths) or where == "kind", found
