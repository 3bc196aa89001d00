"""Immutable xDS snapshots per node group; each resource serialized once per version."""

from gitxds.xds.cache.encoding import EncodedResource, Preserialized, ResourceEncoder, decode, resource_name
from gitxds.xds.cache.interface import ChangeCallback, GroupResolver, SnapshotSource
from gitxds.xds.cache.memo import EncodingMemo
from gitxds.xds.cache.partial_routes import Narrowed, RouteNarrowing
from gitxds.xds.cache.references import Reference
from gitxds.xds.cache.resource_set import ResourceSet, delta_changes
from gitxds.xds.cache.snapshot import InconsistentSnapshotError, Snapshot
from gitxds.xds.cache.snapshot_cache import SnapshotCache, group_from_node_cluster
from gitxds.xds.cache.unbound import unbound_listener, with_unbound_listeners

__all__ = [
    "ChangeCallback",
    "EncodedResource",
    "EncodingMemo",
    "GroupResolver",
    "InconsistentSnapshotError",
    "Narrowed",
    "Preserialized",
    "Reference",
    "ResourceEncoder",
    "ResourceSet",
    "RouteNarrowing",
    "Snapshot",
    "SnapshotCache",
    "SnapshotSource",
    "decode",
    "delta_changes",
    "group_from_node_cluster",
    "resource_name",
    "unbound_listener",
    "with_unbound_listeners",
]
