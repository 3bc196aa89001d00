"""Which routes the validator Envoy is shown again: only new or changed ones, else everything."""

from __future__ import annotations

import pytest
from envoy.config.core.v3.address_pb2 import Address, SocketAddress
from envoy.config.listener.v3.listener_pb2 import Listener
from envoy.config.route.v3.route_components_pb2 import Route, RouteAction, RouteMatch, VirtualHost
from envoy.config.route.v3.route_pb2 import RouteConfiguration
from google.protobuf.wrappers_pb2 import UInt32Value

from gitxds import typeurls
from gitxds.gitops.partial_routes import Narrowed, RouteNarrowing
from gitxds.gitops.route_wire import WireError, any_value, join_route_config, split_route_config
from gitxds.xds.cache import Snapshot, decode
from gitxds.xds.cache.encoding import ResourceEncoder

GATEWAY = "edge"


def route(i: int, timeout: int = 30) -> Route:
    action = RouteAction(cluster=f"svc-{i}")
    action.timeout.seconds = timeout
    return Route(name=f"r{i}", match=RouteMatch(prefix=f"/svc-{i}/"), route=action)


def route_config(routes: int, validate_clusters: bool | None = None) -> RouteConfiguration:
    config = RouteConfiguration(
        name="edge-http",
        max_direct_response_body_size_bytes=UInt32Value(value=8192),
        virtual_hosts=[
            VirtualHost(name="a", domains=["a.example"], routes=[route(i) for i in range(routes)]),
            VirtualHost(name="any", domains=["*"], routes=[route(0)]),
        ],
    )
    if validate_clusters is not None:
        config.validate_clusters.value = validate_clusters
    return config


def snapshot(config: RouteConfiguration, listener_port: int = 10000) -> Snapshot:
    listener = Listener(
        name="http",
        address=Address(socket_address=SocketAddress(address="0.0.0.0", port_value=listener_port)),
    )
    return Snapshot.build({typeurls.ROUTE: [config], typeurls.LISTENER: [listener]})


def pushed_config(narrowed: Narrowed) -> RouteConfiguration:
    (resource,) = narrowed.resources
    message = decode(resource)
    assert isinstance(message, RouteConfiguration)
    return message


def accepted(narrowing: RouteNarrowing, candidate: Snapshot) -> Narrowed:
    narrowed = narrowing.narrow(GATEWAY, candidate)
    narrowing.accepted(GATEWAY, narrowed)
    return narrowed


def test_split_and_join_give_back_the_same_message() -> None:
    config = route_config(50, validate_clusters=False)
    config.virtual_hosts[0].retry_policy.num_retries.value = 3
    value = config.SerializeToString(deterministic=True)
    table = split_route_config(value)
    assert [len(routes) for routes in table.routes] == [50, 1]
    joined = join_route_config(table.head, list(zip(table.host_heads, table.routes, strict=True)))
    assert RouteConfiguration.FromString(joined) == config
    encoded = ResourceEncoder().encode(typeurls.ROUTE, config)
    assert any_value(encoded.any_bytes) == value


@pytest.mark.parametrize("garbage", [b"\x12\x05ab", b"\x0f", b"\x10\xff"])
def test_bytes_that_are_not_a_message_are_refused(garbage: bytes) -> None:
    with pytest.raises(WireError):
        split_route_config(garbage)


def test_after_an_accepted_candidate_only_new_or_changed_routes_are_pushed() -> None:
    narrowing = RouteNarrowing()
    first = accepted(narrowing, snapshot(route_config(2000)))
    assert first.whole and first.routes_sent == 2001

    edited = route_config(2001)  # one route more
    edited.virtual_hosts[0].routes[1234].CopyFrom(route(1234, timeout=31))  # one route changed
    del edited.virtual_hosts[0].routes[7]  # one route gone
    narrowed = narrowing.narrow(GATEWAY, snapshot(edited))
    pushed = pushed_config(narrowed)

    assert not narrowed.whole and narrowed.routes_sent == 2
    assert [r.name for r in pushed.virtual_hosts[0].routes] == ["r1234", "r2000"]  # sorted by bytes
    assert pushed.virtual_hosts[0].routes[0].route.timeout.seconds == 31
    # Everything but the routes is there: the configuration's fields, every host with its domains.
    assert pushed.max_direct_response_body_size_bytes.value == 8192
    assert [(h.name, list(h.domains), len(h.routes)) for h in pushed.virtual_hosts] == [
        ("a", ["a.example"], 2),
        ("any", ["*"], 0),
    ]
    assert (
        narrowed.resources[0].references
        == snapshot(edited).resources(typeurls.ROUTE).resources["edge-http"].references
    )


def test_the_same_configuration_again_pushes_no_route() -> None:
    narrowing = RouteNarrowing()
    accepted(narrowing, snapshot(route_config(10)))
    narrowed = narrowing.narrow(GATEWAY, snapshot(route_config(10)))
    assert not narrowed.whole and narrowed.routes_sent == 0
    assert [len(h.routes) for h in pushed_config(narrowed).virtual_hosts] == [0, 0]


def host_field_changed(config: RouteConfiguration) -> None:
    config.virtual_hosts[0].retry_policy.num_retries.value = 2


def host_added(config: RouteConfiguration) -> None:
    config.virtual_hosts.add(name="b", domains=["a.example"])  # a duplicate domain: Envoy must see it


def config_field_changed(config: RouteConfiguration) -> None:
    config.max_direct_response_body_size_bytes.value = 4


@pytest.mark.parametrize("change", [host_field_changed, host_added, config_field_changed])
def test_a_change_outside_the_routes_pushes_the_whole_configuration(change: object) -> None:
    narrowing = RouteNarrowing()
    accepted(narrowing, snapshot(route_config(100)))
    edited = route_config(100)
    edited.virtual_hosts[0].routes[3].CopyFrom(route(3, timeout=5))
    assert callable(change)
    change(edited)
    narrowed = narrowing.narrow(GATEWAY, snapshot(edited))
    assert narrowed.whole and pushed_config(narrowed) == edited


def one_route_changed() -> Snapshot:
    edited = route_config(100)
    edited.virtual_hosts[0].routes[3].CopyFrom(route(3, timeout=5))
    return snapshot(edited)


def test_first_candidate_refused_or_unanswered_or_other_gateway_go_whole() -> None:
    narrowing = RouteNarrowing()
    assert narrowing.narrow(GATEWAY, one_route_changed()).whole  # nothing accepted yet
    accepted(narrowing, snapshot(route_config(100)))
    assert not narrowing.narrow(GATEWAY, one_route_changed()).whole
    assert narrowing.narrow("other", one_route_changed()).whole  # accepted for another gateway only
    narrowing.forget(GATEWAY)  # refused
    assert narrowing.narrow(GATEWAY, one_route_changed()).whole
    accepted(narrowing, snapshot(route_config(100)))
    narrowing.forget()  # not answered, or restarted
    assert narrowing.narrow(GATEWAY, one_route_changed()).whole


def test_changed_listeners_push_the_whole_configuration() -> None:
    narrowing = RouteNarrowing()
    accepted(narrowing, snapshot(route_config(100)))
    edited = route_config(100)
    edited.virtual_hosts[0].routes[3].CopyFrom(route(3, timeout=5))
    assert narrowing.narrow(GATEWAY, snapshot(edited, listener_port=10001)).whole


def test_with_validate_clusters_a_changed_cluster_pushes_the_whole_configuration() -> None:
    from envoy.config.cluster.v3.cluster_pb2 import Cluster

    def with_clusters(config: RouteConfiguration, clusters: list[str]) -> Snapshot:
        return Snapshot.build(
            {typeurls.ROUTE: [config], typeurls.CLUSTER: [Cluster(name=name) for name in clusters]}
        )

    for validate, whole in ((True, True), (False, False)):
        narrowing = RouteNarrowing()
        config = route_config(10, validate_clusters=validate)
        accepted(narrowing, with_clusters(config, ["svc-0", "svc-1"]))
        config.virtual_hosts[0].routes[3].CopyFrom(route(3, timeout=5))
        assert narrowing.narrow(GATEWAY, with_clusters(config, ["svc-0", "svc-1"])).whole is False
        assert narrowing.narrow(GATEWAY, with_clusters(config, ["svc-0"])).whole is whole
