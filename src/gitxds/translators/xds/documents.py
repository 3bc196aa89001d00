"""Envoy resources as plain documents (proto field names, ``Any`` resolved) for YAML / JSON output."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from gitxds import typeurls
from gitxds.translators.xds.secrets import REDACTED

__all__ = ["DOCUMENT_ORDER", "document_for", "redacted_documents", "resource_documents"]

# Reading order for people: what Envoy listens on, how it routes, then where traffic goes.
DOCUMENT_ORDER = (typeurls.LISTENER, typeurls.ROUTE, typeurls.CLUSTER, typeurls.ENDPOINT, typeurls.SECRET)


def _key_order(key: str) -> tuple[int, str]:
    return ({"@type": 0, "name": 1}.get(key, 2), key)


def _plain(value: Any) -> Any:
    """Plain dicts and lists with keys in a stable order (``@type``, ``name``, then alphabetical):
    protobuf maps and Structs iterate in no fixed order, and output must not change between runs."""
    if isinstance(value, dict):
        return {key: _plain(value[key]) for key in sorted(value, key=_key_order)}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def document_for(message: Message) -> dict[str, Any]:
    document: dict[str, Any] = _plain(MessageToDict(message, preserving_proto_field_name=True))
    return document


def resource_documents(resources: Mapping[str, Sequence[Message]]) -> dict[str, list[dict[str, Any]]]:
    """``{"listeners": [...], "routes": [...], ...}`` in :data:`DOCUMENT_ORDER`; empty types left out."""
    return {
        typeurls.SHORT_NAMES[type_url]: [document_for(message) for message in resources[type_url]]
        for type_url in DOCUMENT_ORDER
        if resources.get(type_url)
    }


def redacted_documents(
    documents: Mapping[str, list[dict[str, Any]]], redact: Callable[[str], str]
) -> dict[str, list[dict[str, Any]]]:
    """Documents of served resources made safe to show: every string passed through ``redact`` (which
    blanks secret values), and every inline certificate and key of a Secret replaced outright."""
    return {
        short_name: [_redacted(doc, redact, whole=short_name == "secrets") for doc in docs]
        for short_name, docs in documents.items()
    }


def _redacted(value: Any, redact: Callable[[str], str], *, whole: bool, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _redacted(v, redact, whole=whole, key=k) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(item, redact, whole=whole) for item in value]
    if isinstance(value, str):
        return REDACTED if whole and key.startswith("inline_") else redact(value)
    return value
