"""The narrow interface between the snapshot cache and the xDS server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from gitxds.xds.cache.snapshot import Snapshot

GroupResolver = Callable[[str, str], str | None]
"""(node id, node cluster) -> node group (gateway name), or None when the node matches no group."""

ChangeCallback = Callable[[str], None]
"""Called with the group whose snapshot changed."""


@runtime_checkable
class SnapshotSource(Protocol):
    """What the server needs from a cache: the current snapshot per group, and change notification."""

    def get(self, group: str) -> Snapshot | None: ...

    def resolve(self, node_id: str, node_cluster: str) -> str | None: ...

    def watch(self, callback: ChangeCallback) -> Callable[[], None]:
        """Register ``callback`` for every snapshot update; returns a function that unregisters it."""
        ...
