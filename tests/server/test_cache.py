"""The snapshot cache: encoding once, deterministic versions, consistency, notification."""

from __future__ import annotations

import pytest
from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.route.v3.route_components_pb2 import WeightedCluster
from envoy.extensions.clusters.aggregate.v3.cluster_pb2 import ClusterConfig

from gitxds import typeurls
from gitxds.xds.cache import (
    InconsistentSnapshotError,
    ResourceEncoder,
    Snapshot,
    SnapshotCache,
    SnapshotSource,
)
from gitxds.xds.cache.encoding import decode_any

from .resources import assignment, cluster, gateway, listener, route_config, snapshot

CDS, EDS, LDS, RDS = typeurls.CLUSTER, typeurls.ENDPOINT, typeurls.LISTENER, typeurls.ROUTE


def test_snapshot_cache_satisfies_the_server_interface() -> None:
    assert isinstance(SnapshotCache(), SnapshotSource)

    class MissingWatch:
        def get(self, group: str) -> None:
            return None

        def resolve(self, node_id: str, node_cluster: str) -> None:
            return None

    assert not isinstance(MissingWatch(), SnapshotSource)


def test_versions_are_content_hashes_and_deterministic() -> None:
    one, two = snapshot(["a", "b"]), snapshot(["a", "b"])
    assert one.version == two.version
    assert [r.version for r in one.resources(CDS)] == [r.version for r in two.resources(CDS)]
    assert snapshot(["a", "c"]).version != one.version
    # The label is carried along but is not part of the content version.
    assert snapshot(["a", "b"], label="commit-1").version == one.version


def test_encoded_resource_round_trips() -> None:
    [encoded] = list(snapshot(["a"]).resources(CDS))
    assert encoded.name == "a"
    assert decode_any(encoded, Cluster) == cluster("a")


def test_endpoint_resources_are_named_by_cluster_name() -> None:
    names = [r.name for r in snapshot(["x", "y"]).resources(EDS)]
    assert names == ["x", "y"]


def test_no_duplicate_names_in_one_response_the_snapshot_refuses_them() -> None:
    with pytest.raises(ValueError, match="duplicate clusters names: \\['a'\\]"):
        Snapshot.build({CDS: [cluster("a"), cluster("a")]})


def test_unknown_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        Snapshot.build({"type.googleapis.com/not.a.Type": []})


def test_unchanged_resources_are_reused_without_reencoding() -> None:
    encoder = ResourceEncoder()
    first = Snapshot.build(gateway(["a", "b"]), encoder=encoder)
    assert encoder.encoded_count == 6  # 2 clusters, 2 assignments, 1 listener, 1 route config
    reused = {type_url: list(first.resources(type_url)) for type_url in (CDS, EDS, LDS)}
    reused[RDS] = [route_config("routes", {"/": "b"})]
    second = Snapshot.build(reused, encoder=encoder, previous=first)
    assert encoder.encoded_count == 7
    assert second.resources(CDS) is first.resources(CDS)
    assert second.version != first.version


def test_consistent_snapshot_has_no_problems() -> None:
    assert snapshot(["a", "b"], {"/": "a", "/b": "b"}).consistent() == []


def test_route_naming_a_missing_cluster_is_a_problem() -> None:
    resources = gateway(["a"])
    weighted = route_config("routes", {"/": "a"})
    action = weighted.virtual_hosts[0].routes[0].route
    action.ClearField("cluster")
    action.weighted_clusters.clusters.extend(
        [WeightedCluster.ClusterWeight(name="a"), WeightedCluster.ClusterWeight(name="gone")]
    )
    resources[RDS] = [weighted]
    [problem] = Snapshot.build(resources).consistent()
    assert problem == "routes 'routes' names clusters 'gone' which is not in the snapshot"


def test_listener_naming_a_missing_route_config_is_a_problem() -> None:
    resources = gateway(["a"])
    resources[LDS].append(listener("extra", "no-such-routes", port=10001))
    assert Snapshot.build(resources).consistent() == [
        "listeners 'extra' names routes 'no-such-routes' which is not in the snapshot"
    ]


def test_aggregate_cluster_member_must_exist() -> None:
    aggregate = Cluster(name="agg")
    aggregate.cluster_type.name = "envoy.clusters.aggregate"
    aggregate.cluster_type.typed_config.Pack(ClusterConfig(clusters=["a", "missing"]))
    resources = gateway(["a"])
    resources[CDS].append(aggregate)
    assert Snapshot.build(resources).consistent() == [
        "clusters 'agg' names clusters 'missing' which is not in the snapshot"
    ]


def test_endpoints_without_a_cluster_are_a_problem() -> None:
    resources = gateway(["a"])
    resources[EDS].append(assignment("orphan"))
    assert Snapshot.build(resources).consistent() == [
        "endpoints 'orphan' belong to no EDS cluster in the snapshot"
    ]


def test_set_snapshot_refuses_an_inconsistent_snapshot_and_keeps_the_last_good() -> None:
    cache = SnapshotCache()
    good = snapshot(["a"])
    cache.set_snapshot("gw", good)
    bad = Snapshot.build({RDS: [route_config("routes", {"/": "nowhere"})]})
    with pytest.raises(InconsistentSnapshotError):
        cache.set_snapshot("gw", bad)
    assert cache.get("gw") is good


def test_every_update_notifies_each_watcher_once_with_its_group() -> None:
    cache = SnapshotCache()
    seen: list[str] = []
    unwatch = cache.watch(seen.append)
    cache.set_snapshot("gw", snapshot(["a"]))
    cache.set_snapshot("other", snapshot(["b"]))
    unwatch()
    cache.set_snapshot("gw", snapshot(["c"]))
    assert seen == ["gw", "other"]


def test_resolver_is_supplied_by_the_caller() -> None:
    cache = SnapshotCache(lambda node_id, node_cluster: "gw" if node_id.startswith("edge-") else None)
    assert cache.resolve("edge-1", "") == "gw"
    assert cache.resolve("other", "gw") is None
