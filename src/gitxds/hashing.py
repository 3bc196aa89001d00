"""The one content hash of gitxds: xDS resource and snapshot versions, and the config version outside Git."""

from __future__ import annotations

import hashlib

__all__ = ["content_hash"]


def content_hash(data: bytes) -> str:
    """A short deterministic version of ``data``: 16 hex digits (64-bit BLAKE2b)."""
    return hashlib.blake2b(data, digest_size=8).hexdigest()
