"""What one request looked like to Envoy, and what a backend did over a window (pure Python)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = ["OTHER", "AccessRecord", "BackendWindow", "key_hash"]

OTHER = "other"  # the label of every client-chosen value the config does not name


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """One request as Envoy logged it. Tokens are None when the answer carried no usage."""

    gateway: str
    route_rule: str  # Envoy route name: "<route>/<rule>" or "<route>/<rule>#<match>"
    backend: str  # the Backend whose endpoint answered ("" when none did)
    status: int  # 0 when no response was sent
    response_flags: frozenset[str]  # Envoy's short codes: UO, UF, URX, UT, UC, ...
    duration_ms: float
    ttft_ms: float | None  # first upstream body byte, from the start of the request
    input_tokens: int | None
    output_tokens: int | None
    model: str  # the model label of the rule that matched (named by the config), else "other"
    tier: str  # a tier the config names, else "other"
    key_hash: str  # "" without a key; never the key itself
    timestamp: float  # seconds since the epoch, when the request started
    node: str = ""  # the Envoy node id that logged it

    @property
    def usage_known(self) -> bool:
        return self.input_tokens is not None and self.output_tokens is not None

    @property
    def failed(self) -> bool:
        """5xx, upstream reset or timeout, not counting overload (see ``overloaded``)."""
        if self.overloaded:
            return False
        return self.status >= 500 or self.status == 0 or bool(self.response_flags & _FAILURE_FLAGS)

    @property
    def overloaded(self) -> bool:
        """429, or 503 because a circuit breaker or overload manager refused it."""
        return self.status == 429 or (self.status == 503 and bool(self.response_flags & _OVERLOAD_FLAGS))


_FAILURE_FLAGS = frozenset({"UF", "URX", "UT", "UC", "UR", "UH", "NC", "UMSDR", "SI", "DPE", "UPE"})
_OVERLOAD_FLAGS = frozenset({"UO", "RL", "RLSE", "OM"})


@dataclass(frozen=True, slots=True)
class BackendWindow:
    """One backend (cluster named after the Backend) over [start, end)."""

    backend: str
    requests: int
    failures: int  # 5xx, upstream reset, timeout (not 429)
    overloaded: int  # 429, or 503 with the overflow/overload response flag
    latency_p99_ms: float | None
    ttft_p95_ms: float | None  # first upstream body byte (streams included)


def key_hash(key: str) -> str:
    """A short, stable stand-in for an API key: enough to tell keys apart, never enough to use one."""
    return "k-" + hashlib.sha256(key.encode()).hexdigest()[:12] if key else ""
