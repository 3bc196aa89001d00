"""The base of every schema model: frozen, strict, unknown keys rejected, camelCase keys."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from gitxds.config.types import HeaderName, SecretName

__all__ = ["HeaderOps", "HeaderValue", "Model", "SecretRef"]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, alias_generator=to_camel)


class SecretRef(Model):
    """``{secretRef: NAME}``: the value comes from the secret store, never from Git."""

    secret_ref: SecretName


def _header_value(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError(
            "invalid_type",
            'a header value is a string or {secretRef: NAME}; quote "{value}"',
            {"value": str(value).lower()},
        )
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        if set(value) != {"secretRef"} or not isinstance(value["secretRef"], str) or not value["secretRef"]:
            raise PydanticCustomError(
                "invalid_value",
                "a header value is a string or {secretRef: NAME}, got keys {keys}",
                {"keys": ", ".join(sorted(map(str, value))) or "none"},
            )
        return SecretRef.model_validate(value)
    if isinstance(value, str) and any(char in value for char in "\r\n\0"):
        raise PydanticCustomError("invalid_value", "a header value cannot contain line breaks or NUL")
    return value


HeaderValue = Annotated[str | SecretRef, BeforeValidator(_header_value)]


class HeaderOps(Model):
    """``set`` overwrites, ``add`` appends, ``remove`` deletes."""

    set: dict[HeaderName, HeaderValue] = Field(default_factory=dict)
    add: dict[HeaderName, HeaderValue] = Field(default_factory=dict)
    remove: list[HeaderName] = Field(default_factory=list)
