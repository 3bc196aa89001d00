"""Which routes the validator Envoy is shown again: only new or changed ones, else everything."""

from __future__ import annotations

from collections import Counter

import pytest
from envoy.config.core.v3.address_pb2 import Address, SocketAddress
from envoy.config.listener.v3.listener_pb2 import Listener
from envoy.config.route.v3.route_components_pb2 import Route, RouteAction, RouteMatch, VirtualHost
from envoy.config.route.v3.route_pb2 import RouteConfiguration
from google.protobuf.wrappers_pb2 import UInt32Value
from hypothesis import given, settings
from hypothesis import strategies as st

from gitxds import typeurls
from gitxds.xds.cache import Narrowed, RouteNarrowing, Snapshot, decode
from gitxds.xds.cache.encoding import ResourceEncoder
from gitxds.xds.cache.route_wire import (
    WireError,
    any_value,
    edited_host,
    join_route_config,
    split_host,
    split_top,
)

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
    head, host_values = split_top(value)
    hosts = [split_host(host) for host in host_values]
    assert [len(host.starts) for host in hosts] == [50, 1]
    joined = join_route_config(head, [host.with_routes(host.route_fields()) for host in hosts])
    assert RouteConfiguration.FromString(joined) == config
    without_routes = VirtualHost.FromString(hosts[0].with_routes([]))
    assert without_routes.retry_policy.num_retries.value == 3 and not without_routes.routes
    encoded = ResourceEncoder().encode(typeurls.ROUTE, config)
    assert any_value(encoded.any_bytes) == value


@pytest.mark.parametrize("garbage", [b"\x12\x05ab", b"\x0f", b"\x10\xff"])
def test_bytes_that_are_not_a_message_are_refused(garbage: bytes) -> None:
    with pytest.raises(WireError):
        split_host(garbage)


def test_after_an_accepted_candidate_only_new_or_changed_routes_are_pushed() -> None:
    narrowing = RouteNarrowing(whole_above_bytes=1 << 20)
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
    narrowing = RouteNarrowing(whole_above_bytes=1 << 20)
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
    narrowing = RouteNarrowing(whole_above_bytes=1 << 20)
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
    narrowing = RouteNarrowing(whole_above_bytes=1 << 20)
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
    narrowing = RouteNarrowing(whole_above_bytes=1 << 20)
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
        narrowing = RouteNarrowing(whole_above_bytes=1 << 20)
        config = route_config(10, validate_clusters=validate)
        accepted(narrowing, with_clusters(config, ["svc-0", "svc-1"]))
        config.virtual_hosts[0].routes[3].CopyFrom(route(3, timeout=5))
        assert narrowing.narrow(GATEWAY, with_clusters(config, ["svc-0", "svc-1"])).whole is False
        assert narrowing.narrow(GATEWAY, with_clusters(config, ["svc-0"])).whole is whole


@st.composite
def edits(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    """Route timeouts before and after a few inserts, removals, changes and moves."""
    before = draw(st.lists(st.integers(1, 40), min_size=0, max_size=30))
    after = list(before)
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["insert", "remove", "change", "move"]))
        if kind == "insert" or not after:
            after.insert(draw(st.integers(0, len(after))), draw(st.integers(1, 40)))
        elif kind == "remove":
            del after[draw(st.integers(0, len(after) - 1))]
        elif kind == "change":
            after[draw(st.integers(0, len(after) - 1))] = draw(st.integers(1, 40))
        else:
            after.insert(
                draw(st.integers(0, len(after) - 1)), after.pop(draw(st.integers(0, len(after) - 1)))
            )
    return before, after


def host(timeouts: list[int], retries: int = 1) -> bytes:
    virtual_host = VirtualHost(name="a", domains=["a.example"], routes=[route(t, t) for t in timeouts])
    virtual_host.retry_policy.num_retries.value = retries
    return virtual_host.SerializeToString(deterministic=True)


@settings(max_examples=300, deadline=None)
@given(edits())
def test_reading_only_where_the_bytes_differ_finds_every_new_route(case: tuple[list[int], list[int]]) -> None:
    before, after = case
    old = split_host(host(before))
    edited = edited_host(old, host(after))
    whole = split_host(host(after))
    if edited is None:  # the differing bytes reach beyond the routes: the caller reads it all
        return
    parts, sent = edited
    assert parts.starts == whole.starts and parts.head() == whole.head()  # as a full read finds them
    new = Counter(whole.route_fields()) - Counter(old.route_fields())
    assert not new - Counter(sent)  # every new or changed route is sent
    assert not Counter(sent) - Counter(whole.route_fields())  # and nothing that is not a route now


def test_a_changed_field_beside_the_routes_is_never_read_as_routes() -> None:
    old = split_host(host([1, 2, 3]))
    assert edited_host(old, host([1, 2, 3], retries=2)) is None
    assert edited_host(old, host([1, 5, 3], retries=2)) is None


@pytest.mark.parametrize("header_bytes", [0, 200, 20_000])  # one-, two- and three-byte lengths
def test_routes_of_any_length_are_found(header_bytes: int) -> None:
    long_route = route(1)
    if header_bytes:
        long_route.request_headers_to_add.add().header.key = "x" * header_bytes
    virtual_host = VirtualHost(name="a", domains=["a"], routes=[route(0), long_route, route(2)])
    value = virtual_host.SerializeToString(deterministic=True)
    parts = split_host(value)
    assert len(parts.starts) == 3
    assert VirtualHost.FromString(parts.with_routes(parts.route_fields())) == virtual_host
    assert VirtualHost.FromString(parts.with_routes(parts.route_fields(1, 2))).routes == [long_route]
