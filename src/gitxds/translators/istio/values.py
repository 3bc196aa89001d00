"""Small value formatters shared by the Istio document builders."""

from __future__ import annotations

from typing import Any

__all__ = ["API_NETWORKING", "API_NETWORKING_ALPHA", "API_SECURITY", "Document", "duration", "metadata"]

Document = dict[str, Any]

API_NETWORKING = "networking.istio.io/v1"
API_NETWORKING_ALPHA = "networking.istio.io/v1alpha3"
API_SECURITY = "security.istio.io/v1"

_UNITS_MS = (("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1))


def duration(millis: int) -> str:
    """Milliseconds as an Istio duration string (``250ms``, ``30s``, ``1m30s``)."""
    if millis <= 0:
        return "0s"
    parts = []
    remaining = millis
    for unit, size in _UNITS_MS:
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def metadata(name: str, namespace: str) -> Document:
    return {"name": name, "namespace": namespace}
