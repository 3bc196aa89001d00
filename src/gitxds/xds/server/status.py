"""What the server reports about connected proxies: status snapshots and ACK/NACK events."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Variant(StrEnum):
    SOTW = "sotw"
    DELTA = "delta"


@dataclass(frozen=True, slots=True)
class TypeStatus:
    """One resource type on one stream.

    ``in_sync`` is True when the proxy has acknowledged exactly what the current snapshot gives it;
    a proxy that rejected a version, or has not acknowledged the latest push yet, is drifted.
    """

    type_url: str
    acked_version: str
    nacked_version: str
    error_message: str
    in_sync: bool
    acked_config_version: str = ""


@dataclass(frozen=True, slots=True)
class ProxyStatus:
    """One xDS stream. A proxy using per-type services shows up once per stream."""

    node_id: str
    node_cluster: str
    group: str | None
    connected_since: float
    variant: Variant
    aggregated: bool
    types: dict[str, TypeStatus] = field(default_factory=dict)

    @property
    def in_sync(self) -> bool:
        return self.group is not None and bool(self.types) and all(t.in_sync for t in self.types.values())


@dataclass(frozen=True, slots=True)
class XdsEvent:
    """A proxy accepted (``error`` is None) or rejected a response.

    ``version`` is the response's version; ``config_version`` the label of the snapshot it came from,
    which lets the GitOps layer measure commit -> ACK convergence.
    """

    node_id: str
    group: str | None
    type_url: str
    version: str
    config_version: str
    error: str | None
    monotonic_time: float

    @property
    def accepted(self) -> bool:
        return self.error is None
