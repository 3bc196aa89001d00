"""A JSON Schema of the config format, generated from the pydantic models, for editors.

One schema accepts a document of any kind, chosen by ``kind``. Field types that the models parse from
text (durations, rates) are described as the text users write, not as the values they become, so an
editor flags ``timeout: 30`` exactly as ``gitxds validate`` does. Cross-field rules (one endpoint
source, HTTPS needs tls, references) stay with ``gitxds validate``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from gitxds.config import types
from gitxds.config.schema import API_VERSION, ConfigObject
from gitxds.config.units import format_duration

__all__ = ["SCHEMA_ID", "config_json_schema"]

SCHEMA_ID = "https://gitxds.dev/schema/gitxds.schema.json"
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
RATE_PATTERN = r"^\s*[0-9]+\s*/\s*(second|minute|hour)s?\s*$"
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
LABEL_KEY_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
LABEL_VALUE_PATTERN = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"

_DURATION: JsonSchemaValue = {
    "type": "string",
    "pattern": DURATION_PATTERN,
    "description": "a number and a unit: 250ms, 30s, 1.5s, 5m, 1h, or a sum such as 1m30s",
}
_SHARE: JsonSchemaValue = {
    "anyOf": [
        {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?%$"},
        {"type": "number", "minimum": 0, "maximum": 100},
    ],
    "description": "a share of requests in percent: 99%, 0.5% (or a bare number of percent)",
}
_RATE: JsonSchemaValue = {
    "type": "string",
    "pattern": RATE_PATTERN,
    "description": "N/second, N/minute or N/hour",
}


class _ConfigSchemaGenerator(GenerateJsonSchema):
    """Describes gitxds's parsed field types by what is written in YAML."""

    def function_before_schema(self, schema: core_schema.BeforeValidatorFunctionSchema) -> JsonSchemaValue:
        if _function_of(schema) is types._duration:
            return dict(_DURATION)
        if _function_of(schema) is types._share:
            return dict(_SHARE)
        return super().function_before_schema(schema)

    def function_plain_schema(self, schema: core_schema.PlainValidatorFunctionSchema) -> JsonSchemaValue:
        if _function_of(schema) is types._rate:
            return dict(_RATE)
        return super().function_plain_schema(schema)

    def function_after_schema(self, schema: core_schema.AfterValidatorFunctionSchema) -> JsonSchemaValue:
        inner = super().function_after_schema(schema)
        function = _function_of(schema)
        if function is types._port:
            return {**inner, "minimum": 1, "maximum": 65535}
        if function is types._name:
            return {**inner, "pattern": NAME_PATTERN}
        if function is types._percent and "anyOf" not in inner:
            return {**inner, "minimum": 0, "maximum": 100}
        if function is types._label_key:
            return {**inner, "pattern": LABEL_KEY_PATTERN}
        if function is types._label_value:
            return {**inner, "pattern": LABEL_VALUE_PATTERN}
        if function is types._label_count:
            # keys outside the label-key pattern are errors too, as in gitxds validate
            return {**inner, "maxProperties": types.MAX_SELECTOR_LABELS, "additionalProperties": False}
        return inner

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        generated = super().default_schema(schema)
        if generated.get("pattern") == DURATION_PATTERN and isinstance(generated.get("default"), int):
            return {**generated, "default": format_duration(generated["default"])}  # 5000 -> "5s"
        return generated


def _function_of(schema: Any) -> Any:
    return schema.get("function", {}).get("function")


def _without_titles(node: Any) -> Any:
    """Drop pydantic's generated titles ("Connecttimeout"); field names say it better."""
    if isinstance(node, dict):
        return {
            key: _without_titles(value)
            for key, value in node.items()
            if not (key == "title" and isinstance(value, str))
        }
    if isinstance(node, list):
        return [_without_titles(item) for item in node]
    return node


def config_json_schema() -> dict[str, Any]:
    """The schema of one config document of any kind (Gateway, Backend, Route, ..., RolloutPolicy)."""
    adapter: TypeAdapter[Any] = TypeAdapter(Annotated[ConfigObject, Field(discriminator="kind")])
    body = _without_titles(adapter.json_schema(by_alias=True, schema_generator=_ConfigSchemaGenerator))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": f"gitxds config document ({API_VERSION})",
        "description": "One document of a gitxds config directory; `gitxds validate` checks the rest.",
        **body,
    }
