"""Header rewrites (``set`` / ``add`` / ``remove``) as Envoy ``HeaderValueOption`` lists."""

from __future__ import annotations

from envoy.config.core.v3.base_pb2 import HeaderValue, HeaderValueOption

from gitxds import ir
from gitxds.translators.xds.secrets import SecretValues

__all__ = ["header_value_options_for"]

_OVERWRITE = HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
_APPEND = HeaderValueOption.APPEND_IF_EXISTS_OR_ADD


def header_value_options_for(ops: ir.HeaderOps, secrets: SecretValues) -> list[HeaderValueOption]:
    """``set`` replaces any value the request already has; ``add`` appends another value."""
    return [
        HeaderValueOption(header=HeaderValue(key=name, value=secrets.resolve(value)), append_action=action)
        for pairs, action in ((ops.set, _OVERWRITE), (ops.add, _APPEND))
        for name, value in pairs
    ]
