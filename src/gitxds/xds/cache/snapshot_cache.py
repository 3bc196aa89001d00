"""Latest snapshot per node group, with change notification for the streams serving them."""

from __future__ import annotations

from collections.abc import Callable

from gitxds.xds.cache.interface import ChangeCallback, GroupResolver
from gitxds.xds.cache.snapshot import InconsistentSnapshotError, Snapshot


def group_from_node_cluster(node_id: str, node_cluster: str) -> str | None:
    """The default resolver: a proxy's ``--service-cluster`` names its gateway."""
    return node_cluster or None


class SnapshotCache:
    """Holds one immutable snapshot per group. Not thread-safe: use it from the server's event loop.

    Every :meth:`set_snapshot` calls each watcher once with the group; a watcher that is slow to look
    simply sees the latest snapshot, never a queue of old ones.
    """

    def __init__(self, resolver: GroupResolver = group_from_node_cluster) -> None:
        self._resolver = resolver
        self._snapshots: dict[str, Snapshot] = {}
        self._watchers: dict[int, ChangeCallback] = {}
        self._next_watch_id = 0

    def set_snapshot(self, group: str, snapshot: Snapshot, *, check: bool = True) -> None:
        """Publish ``snapshot`` for ``group``; refuses an inconsistent one unless ``check`` is False."""
        if check:
            problems = snapshot.consistent()
            if problems:
                raise InconsistentSnapshotError(problems)
        self._snapshots[group] = snapshot
        self._notify(group)

    def clear_snapshot(self, group: str) -> None:
        """Forget a group; its proxies keep their config but get no further updates."""
        if self._snapshots.pop(group, None) is not None:
            self._notify(group)

    def get(self, group: str) -> Snapshot | None:
        return self._snapshots.get(group)

    def groups(self) -> list[str]:
        return sorted(self._snapshots)

    def resolve(self, node_id: str, node_cluster: str) -> str | None:
        return self._resolver(node_id, node_cluster)

    def set_resolver(self, resolver: GroupResolver) -> None:
        """How nodes map to groups from now on (the writer sets it with the snapshots it publishes);
        open streams resolve again on the next change."""
        self._resolver = resolver

    def watch(self, callback: ChangeCallback) -> Callable[[], None]:
        watch_id = self._next_watch_id
        self._next_watch_id += 1
        self._watchers[watch_id] = callback

        def unwatch() -> None:
            self._watchers.pop(watch_id, None)

        return unwatch

    def _notify(self, group: str) -> None:
        for callback in list(self._watchers.values()):
            callback(group)
