"""Rules for header rewrites, shared by Backend request headers and Route rule headers."""

from __future__ import annotations

from collections.abc import Iterator

from gitxds.config.base import HeaderOps, SecretRef
from gitxds.config.document import Issue
from gitxds.config.yamlread import FieldPath
from gitxds.errors import Reason

__all__ = ["check_header_ops"]


def check_header_ops(ops: HeaderOps, path: FieldPath, secrets_allowed: bool) -> Iterator[Issue]:
    for verb in ("set", "add"):
        values: dict[str, str | SecretRef] = getattr(ops, verb)
        for name, value in values.items():
            if name.startswith(":") or name == "host":
                yield Issue((*path, verb, name), Reason.INVALID_VALUE, f'header "{name}" cannot be rewritten')
            if isinstance(value, SecretRef) and not secrets_allowed:
                yield Issue(
                    (*path, verb, name),
                    Reason.INVALID_VALUE,
                    "secretRef values are only allowed in request headers, never sent to clients",
                )
            if name in ops.remove:
                yield Issue(
                    (*path, "remove"),
                    Reason.CONFLICTING_FIELDS,
                    f'header "{name}" is both {verb} and removed',
                )
    for index, name in enumerate(ops.remove):
        if name.startswith(":") or name == "host":
            yield Issue((*path, "remove", index), Reason.INVALID_VALUE, f'header "{name}" cannot be removed')
