"""Binding proxies to their certificate: which identities a peer proved, and the refusals recorded.

With client certificates required, gRPC has verified the peer's chain; its URI SANs (SPIFFE ids) and
DNS SANs are the identities it proved. A stream whose node claims a gateway none of those identities
may receive is refused; each refusal is counted, and each distinct one logged once and kept in status.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from gitxds.safetext import printable

__all__ = ["IdentityPolicy", "Refusal", "RefusalLog", "peer_identities"]

# Gateway name -> the identities allowed to receive it (empty: nobody).
IdentityPolicy = Callable[[str], frozenset[str]]

_SAN_PROPERTIES = ("peer_uri", "peer_dns")
_MAX_SHOWN_IDENTITIES = 8
_MAX_IDENTITY_CHARS = 256


def peer_identities(context: grpc.aio.ServicerContext) -> frozenset[str]:
    """The URI and DNS SANs of the peer's verified certificate (empty without client TLS)."""
    auth = context.auth_context() or {}
    found = set()
    for prop in _SAN_PROPERTIES:
        for value in auth.get(prop, ()):
            text = value.decode("utf-8", "replace")
            found.add(text.lower() if prop == "peer_dns" else text)
    return frozenset(found)


@dataclass(slots=True)
class Refusal:
    gateway: str
    node_id: str  # printable, cut
    identities: tuple[str, ...]  # printable, cut
    count: int
    first_at: float
    last_at: float

    def to_json(self) -> dict[str, object]:
        return {
            "gateway": self.gateway,
            "node_id": self.node_id,
            "identities": list(self.identities),
            "count": self.count,
            "first_at": round(self.first_at, 3),
            "last_at": round(self.last_at, 3),
        }


class RefusalLog:
    """Distinct refusals (gateway, node, identities), most recent last; at most ``capacity`` kept."""

    def __init__(self, logger: logging.Logger, capacity: int = 256) -> None:
        self._log = logger
        self._capacity = capacity
        self._entries: OrderedDict[tuple[str, str, tuple[str, ...]], Refusal] = OrderedDict()

    def record(self, gateway: str, node_id: str, identities: frozenset[str]) -> None:
        shown = tuple(printable(i, _MAX_IDENTITY_CHARS) for i in sorted(identities)[:_MAX_SHOWN_IDENTITIES])
        key = (gateway, printable(node_id, _MAX_IDENTITY_CHARS), shown)
        now = time.time()
        entry = self._entries.get(key)
        if entry is not None:
            entry.count += 1
            entry.last_at = now
            self._entries.move_to_end(key)
            return
        self._log.warning(
            "refused xDS stream: node %s claims gateway %s but its certificate carries %s, none of the "
            "gateway's proxies.identities",
            key[1],
            gateway,
            ", ".join(shown) or "no URI or DNS name",
        )
        self._entries[key] = Refusal(gateway, key[1], shown, 1, now, now)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def recent(self) -> list[Refusal]:
        return list(reversed(self._entries.values()))
