"""Strict validation of Istio documents against the networking.istio.io CRDs in ../shared/istio/crds.

The CRDs are Kubernetes structural schemas: JSON Schema plus ``nullable``, ``x-kubernetes-*`` markers
and CEL rules, and no ``additionalProperties: false``. A plain JSON Schema check therefore accepts a
misspelled field, so this validator adds what the API server (and Istio's own validation) enforce:
unknown fields, the CEL duration and port rules, and the Kubernetes object envelope.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

ISTIO_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "istio"
CRD_DIR = ISTIO_DIR / "crds"
SAMPLES_DIR = ISTIO_DIR / "samples"

_ENVELOPE = {"apiVersion", "kind", "metadata", "spec", "status"}
_OBJECT_META = {"name", "namespace", "labels", "annotations", "generateName", "uid", "resourceVersion"}
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# Go's time.ParseDuration grammar, which CEL's duration() uses.
_GO_DURATION = re.compile(r"[-+]?(\d*\.?\d+(ns|us|µs|ms|s|m|h))+|[-+]?0")
_GO_DURATION_PART = re.compile(r"(\d*\.?\d+)(ns|us|µs|ms|s|m|h)")
_GO_UNITS_NS = {"ns": 1, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}
_DURATION_RULE = "duration(self) >= duration('1ms')"
_PORT_RULE = "0 < self && self <= 65535"


def require_istio_dir(istio_dir: Path = ISTIO_DIR) -> Path:
    if not (istio_dir / "crds").is_dir():
        raise FileNotFoundError(
            f"Istio reference data not found at {istio_dir.resolve()}: clone shared/ beside main/"
        )
    return istio_dir


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '<root>'}: {self.message}"


class CrdValidator:
    """Validates documents of every kind and served version found in the CRD directory."""

    def __init__(self, crd_dir: Path = CRD_DIR) -> None:
        require_istio_dir(crd_dir.parent)
        self.schemas: dict[tuple[str, str], dict[str, Any]] = {}
        for path in sorted(crd_dir.glob("*.yaml")):
            crd = yaml.safe_load(path.read_text())
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schema = version["schema"]["openAPIV3Schema"]
                self.schemas[(f"{group}/{version['name']}", kind)] = schema

    def knows(self, document: dict[str, Any]) -> bool:
        return (document.get("apiVersion"), document.get("kind")) in self.schemas

    def validate(self, document: dict[str, Any]) -> list[Problem]:
        key = (document.get("apiVersion"), document.get("kind"))
        if key not in self.schemas:
            return [Problem("", f"no CRD for apiVersion {key[0]!r} kind {key[1]!r}")]
        schema = self.schemas[key]  # type: ignore[index]
        problems = list(_envelope_problems(document))
        body = {k: v for k, v in document.items() if k in ("spec", "status")}
        problems += _schema_problems(body, schema)
        problems += _unknown_fields(body, schema, "")
        problems += _cel_problems(body, schema, "")
        return problems


def _envelope_problems(document: dict[str, Any]) -> Iterator[Problem]:
    for key in sorted(set(document) - _ENVELOPE):
        yield Problem(key, "unknown field")
    metadata = document.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        yield Problem("metadata.name", "required")
        return
    for key in sorted(set(metadata) - _OBJECT_META):
        yield Problem(f"metadata.{key}", "unknown field")
    if not _DNS_LABEL.fullmatch(metadata["name"]) or len(metadata["name"]) > 253:
        yield Problem("metadata.name", f"{metadata['name']!r} is not a DNS subdomain name")


def _schema_problems(body: dict[str, Any], schema: dict[str, Any]) -> Iterator[Problem]:
    validator = jsonschema.Draft7Validator(_nullable_to_json_schema(schema))
    for error in validator.iter_errors(body):
        yield Problem(_dotted(error.absolute_path), error.message)


def _nullable_to_json_schema(schema: Any) -> Any:
    """OpenAPI's ``nullable: true`` becomes a type union with null; ``x-kubernetes-int-or-string``
    (which the CRDs also spell as an anyOf) becomes integer-or-string."""
    if isinstance(schema, list):
        return [_nullable_to_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: _nullable_to_json_schema(value) for key, value in schema.items()}
    if converted.get("x-kubernetes-int-or-string") and "type" not in converted and "anyOf" not in converted:
        converted["type"] = ["integer", "string"]
    if converted.pop("nullable", False) and "type" in converted:
        types = converted["type"] if isinstance(converted["type"], list) else [converted["type"]]
        converted["type"] = [*types, "null"]
    return converted


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    found = [schema]
    for keyword in ("allOf", "anyOf", "oneOf"):
        for branch in schema.get(keyword, []):
            found += _branches(branch)
    return found


def _unknown_fields(value: Any, schema: dict[str, Any], path: str) -> Iterator[Problem]:
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            yield from _unknown_fields(item, schema["items"], f"{path}[{index}]")
    if not isinstance(value, dict):
        return
    properties: dict[str, Any] = {}
    for branch in _branches(schema):
        properties.update(branch.get("properties", {}))
    additional = schema.get("additionalProperties")
    for key, item in value.items():
        child = f"{path}.{key}" if path else key
        if key in properties:
            yield from _unknown_fields(item, properties[key], child)
        elif isinstance(additional, dict):
            yield from _unknown_fields(item, additional, child)
        elif additional is not True and (properties or schema.get("type") == "object"):
            yield Problem(child, "unknown field")


def _cel_problems(value: Any, schema: dict[str, Any], path: str) -> Iterator[Problem]:
    for rule in schema.get("x-kubernetes-validations", []):
        problem = _check_rule(rule["rule"], value)
        if problem:
            yield Problem(path, f"{rule.get('message', problem)} ({problem})")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            yield from _cel_problems(item, schema["items"], f"{path}[{index}]")
    if isinstance(value, dict):
        properties: dict[str, Any] = {}
        for branch in _branches(schema):
            properties.update(branch.get("properties", {}))
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            child = f"{path}.{key}" if path else key
            sub = properties.get(key, additional if isinstance(additional, dict) else None)
            if sub is not None:
                yield from _cel_problems(item, sub, child)


def _check_rule(rule: str, value: Any) -> str | None:
    """The CEL rules the exporter's output can meet; other rules concern fields gitxds never writes."""
    if rule == _DURATION_RULE:
        nanos = go_duration_nanos(value) if isinstance(value, str) else None
        if nanos is None:
            return f"{value!r} is not a duration"
        return None if nanos >= 1e6 else f"{value!r} is shorter than 1ms"
    if rule == _PORT_RULE:
        return None if isinstance(value, int) and 0 < value <= 65535 else f"{value!r} is not a port"
    return None


def go_duration_nanos(text: str) -> float | None:
    """Nanoseconds in a Go duration string (``1h2m3.5s``), or None when it is not one."""
    if not _GO_DURATION.fullmatch(text):
        return None
    sign = -1 if text.startswith("-") else 1
    return sign * sum(float(n) * _GO_UNITS_NS[u] for n, u in _GO_DURATION_PART.findall(text))


def _dotted(parts: Any) -> str:
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
