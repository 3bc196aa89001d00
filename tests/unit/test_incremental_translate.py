"""The incremental translation publishes, byte for byte, what a translation from nothing publishes.

Hypothesis drives the model the way the incremental compile hands it over (unchanged IR objects stay
the very same objects) through sequences of changes: routes added, removed and replaced at any
position (so their Envoy routes move within the specificity order), routes reordered, routes with
several hostnames or none, several matches and rules, a backend changed, the gateway changed, secrets
rotated, discovered endpoints changed. After every change the snapshots built incrementally (memos
kept across builds, previous snapshots reused, as ``serve`` builds) and built cold are compared:
versions, Any bytes of every resource, and the consistency verdict.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitxds import ir, typeurls
from gitxds.gitops.inputs import Inputs, build
from gitxds.gitops.secrets import Secrets
from gitxds.translators.xds import (
    RouteConfigurationBytes,
    TranslationMemo,
    translate_gateway,
    translate_incrementally,
)
from gitxds.xds.cache import EncodingMemo, Snapshot

BACKENDS = ("b0", "b1", "b2", "b3", "authz")
K8S = ir.KubernetesEndpoints(service="b1", namespace="default", port=8080)
HOSTS = ("a.example", "b.example", "*")


def backends(port: int, ring: bool) -> list[ir.Backend]:
    def static(port: int) -> ir.StaticEndpoints:
        return ir.StaticEndpoints((ir.Endpoint("10.0.0.1", port),))

    return [
        ir.Backend("b0", static(port)),
        ir.Backend("b1", K8S),
        ir.Backend(
            "b2",
            static(9000),
            load_balancer=ir.LoadBalancer.RING_HASH if ring else ir.LoadBalancer.ROUND_ROBIN,
            hash_on_header="x-user" if ring else None,
        ),
        ir.Backend("b3", static(9001), api=ir.BackendApi.OPENAI),
        ir.Backend("authz", static(9002), protocol=ir.Protocol.HTTP2),
    ]


def gateway(port: int, second_listener: bool) -> ir.Gateway:
    listeners = [ir.Listener("http", port)]
    if second_listener:
        listeners.append(ir.Listener("alt", port + 1))
    return ir.Gateway("edge", ir.ProxySelector(cluster="edge"), tuple(listeners))


paths = st.one_of(
    st.none(),
    st.builds(
        ir.PathMatch,
        st.sampled_from(list(ir.PathMatchKind)),
        st.sampled_from(["/", "/a", "/ab", "/a/b", "/abc", "/b"]),
    ),
)
matches = st.builds(
    ir.Match,
    path=paths,
    headers=st.lists(
        st.builds(ir.HeaderMatch, st.sampled_from(["x-a", "x-b"]), st.just(ir.HeaderMatchKind.PRESENT)),
        max_size=1,
    ).map(tuple),
    methods=st.sampled_from([(), ("GET",), ("GET", "POST")]),
)


@st.composite
def rules(draw: Any, route: str, index: int) -> ir.Rule:
    names = draw(st.lists(st.sampled_from(BACKENDS[:4]), min_size=1, max_size=2, unique=True))
    fallback = draw(st.sampled_from([(), ("b0",), ("b2", "b3")]))
    header = draw(st.sampled_from([None, "plain", ir.SecretRef("token")]))
    return ir.Rule(
        name=f"{route}/{index}",
        matches=tuple(draw(st.lists(matches, max_size=2))),
        backends=tuple(ir.WeightedBackend(name, draw(st.integers(1, 9))) for name in names),
        fallback=fallback,
        timeout_ms=draw(st.sampled_from([None, 1000])),
        mirror=draw(st.sampled_from([None, ir.Mirror("b0", 10.0)])),
        fault=draw(st.sampled_from([None, ir.Fault(abort=ir.FaultAbort(5.0, 503))])),
        request_headers=ir.HeaderOps(set=(("x-token", header),)) if header is not None else ir.HeaderOps(),
        auth=draw(st.sampled_from([None, "keys"])),
    )


@st.composite
def routes(draw: Any, name: str) -> ir.Route:
    hostnames = draw(st.lists(st.sampled_from(HOSTS), max_size=2, unique=True))
    count = draw(st.integers(1, 2))
    return ir.Route(name, ("edge",), tuple(hostnames), tuple(draw(rules(name, i)) for i in range(count)))


class World:
    """The model and the other inputs, changed one at a time; untouched objects stay the same."""

    def __init__(self) -> None:
        self.gateway = gateway(10000, False)
        self.backends = backends(8000, False)
        self.routes: list[ir.Route] = []
        self.secret = "s1"
        self.endpoints: tuple[ir.Endpoint, ...] = (ir.Endpoint("10.1.0.1", 8080),)
        self.version = 0
        self.policies = (ir.AuthPolicy("keys", ir.ExtAuthz("authz")),)

    def inputs(self) -> Inputs:
        self.version += 1
        model = ir.Model(
            gateways=(self.gateway,),
            backends=tuple(self.backends),
            routes=tuple(self.routes),
            auth_policies=self.policies,
        )
        secrets = Secrets({"token": self.secret})
        return Inputs(f"v{self.version}", model, secrets, {K8S: self.endpoints})


def published(snapshots: dict[str, Snapshot]) -> dict[str, Any]:
    return {
        name: (
            snapshot.version,
            snapshot.consistent(),
            {
                type_url: [(r.name, r.version, r.any_bytes) for r in snapshot.resources(type_url)]
                for type_url in typeurls.PUSH_ORDER
            },
        )
        for name, snapshot in snapshots.items()
    }


class Serve:
    def __init__(self) -> None:
        self.translation = TranslationMemo()
        self.memo = EncodingMemo()
        self.served: dict[str, Snapshot] = {}

    def build(self, inputs: Inputs) -> dict[str, Any]:
        built = build(inputs, self.memo, self.served.get, translation=self.translation)
        self.memo.retire()
        self.served = dict(built.snapshots)
        return published(built.snapshots)


def cold(inputs: Inputs) -> dict[str, Any]:
    return published(build(inputs, EncodingMemo(), lambda _: None).snapshots)


counter = iter(range(10**9))
changes = st.one_of(
    st.tuples(st.just("add"), st.integers(0, 99), st.integers(0, 10**6)),
    st.tuples(st.just("remove"), st.integers(0, 99)),
    st.tuples(st.just("replace"), st.integers(0, 99), st.integers(0, 10**6)),
    st.tuples(st.just("swap"), st.integers(0, 99), st.integers(0, 99)),
    st.tuples(st.just("backend"), st.integers(8000, 8002), st.booleans()),
    st.tuples(st.just("gateway"), st.sampled_from([10000, 10100]), st.booleans()),
    st.tuples(st.just("secret"), st.sampled_from(["s1", "s2"])),
    st.tuples(st.just("endpoints"), st.integers(1, 3)),
    st.tuples(st.just("same"), st.just(0)),
)


def apply(world: World, change: tuple[Any, ...], draw: Any) -> None:
    kind, *args = change
    if kind in ("add", "replace") and (world.routes or kind == "add"):
        position = args[0] % (len(world.routes) + (kind == "add"))
        route = draw(routes(f"r{next(counter)}" if kind == "add" else world.routes[position].name))
        if kind == "add":
            world.routes.insert(position, route)
        else:
            world.routes[position] = route
    elif kind == "remove" and world.routes:
        del world.routes[args[0] % len(world.routes)]
    elif kind == "swap" and world.routes:
        i, j = (index % len(world.routes) for index in args)
        world.routes[i], world.routes[j] = world.routes[j], world.routes[i]
    elif kind == "backend":
        fresh = backends(*args)
        # Only what differs is a new object, as the incremental compile gives it.
        world.backends = [old if old == new else new for old, new in zip(world.backends, fresh, strict=True)]
    elif kind == "gateway":
        world.gateway = gateway(*args)
    elif kind == "secret":
        world.secret = args[0]
    elif kind == "endpoints":
        world.endpoints = tuple(ir.Endpoint(f"10.1.0.{i}", 8080) for i in range(1, args[0] + 1))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_incremental_translation_is_byte_identical_to_cold(data: Any) -> None:
    world = World()
    for _ in range(data.draw(st.integers(0, 6))):
        world.routes.append(data.draw(routes(f"r{next(counter)}")))
    serve = Serve()
    inputs = world.inputs()
    assert serve.build(inputs) == cold(inputs)
    for change in data.draw(st.lists(changes, max_size=12)):
        apply(world, change, data.draw)
        inputs = world.inputs()
        assert serve.build(inputs) == cold(inputs), f"after {change}"


def test_many_routes_of_equal_specificity_keep_the_order_they_were_written_in() -> None:
    """Ties (the same path kind and length) are ordered by position in the model; routes inserted
    and removed among them land where a cold build puts them."""
    world = World()
    world.secret = "s1"

    def tie(name: str) -> ir.Route:
        rule = ir.Rule(
            f"{name}/0",
            (ir.Match(ir.PathMatch(ir.PathMatchKind.PREFIX, "/x")),),
            (ir.WeightedBackend("b0", 1),),
        )
        return ir.Route(name, ("edge",), (), (rule,))

    world.routes = [tie(f"t{i:03d}") for i in range(0, 200, 2)]
    serve = Serve()
    assert serve.build(world.inputs()) == cold(world.inputs())
    for i in (1, 51, 199, 3, 5, 7):
        world.routes.insert(i // 2 + 1, tie(f"t{i:03d}"))
        inputs = world.inputs()
        assert serve.build(inputs) == cold(inputs)
    for position in (0, 10, -1):
        del world.routes[position]
        inputs = world.inputs()
        assert serve.build(inputs) == cold(inputs)


def test_a_route_configuration_assembled_from_route_bytes_is_the_message_serialized() -> None:
    """The bytes joined at the wire level equal the deterministic serialization of the message the
    cold translation builds, and decode back to it."""
    world = World()
    world.routes = [
        ir.Route(
            f"r{i}",
            ("edge",),
            hosts,
            (
                ir.Rule(
                    f"r{i}/0",
                    (ir.Match(ir.PathMatch(ir.PathMatchKind.PREFIX, "/p" * i)), ir.Match(methods=("GET",))),
                    (ir.WeightedBackend("b0", 3), ir.WeightedBackend("b2", 1)),
                    fallback=("b3",),
                ),
            ),
        )
        for i, hosts in enumerate([(), ("a.example",), ("a.example", "*"), ("b.example",)])
    ]
    world.gateway = gateway(10000, True)
    model = world.inputs().model
    incremental = translate_incrementally(model, "edge", {"token": "s1"}, None, TranslationMemo())
    reference = translate_gateway(model, "edge", {"token": "s1"}, None)
    assembled = incremental[typeurls.ROUTE]
    assert len(assembled) == 2 and all(isinstance(item, RouteConfigurationBytes) for item in assembled)
    for item, message in zip(assembled, reference[typeurls.ROUTE], strict=True):
        assert item.value == message.SerializeToString(deterministic=True)
        assert item.message() == message
        assert [host for host, _ in item.parts] == ["a.example", "b.example", "*"]


def test_a_backend_edit_rebuilds_only_that_backends_resources() -> None:
    world = World()
    world.routes = [
        ir.Route(f"r{i}", ("edge",), (), (ir.Rule(f"r{i}/0", (), (ir.WeightedBackend(name, 1),)),))
        for i, name in enumerate(BACKENDS[:4])
    ]
    translation = TranslationMemo()
    first = translate_incrementally(world.inputs().model, "edge", {}, None, translation)
    world.backends[0] = replace(world.backends[0], connect_timeout_ms=100)
    second = translate_incrementally(world.inputs().model, "edge", {}, None, translation)
    same = [a is b for a, b in zip(first[typeurls.CLUSTER], second[typeurls.CLUSTER], strict=True)]
    assert same == [False, True, True, True]  # b0, b1, b2, b3 by name
    assert translation.states["edge"].built == 0  # no route was built again


def test_a_route_to_a_new_backend_builds_that_backends_resources_only() -> None:
    world = World()
    world.routes = [
        ir.Route(f"r{i}", ("edge",), (), (ir.Rule(f"r{i}/0", (), (ir.WeightedBackend(name, 1),)),))
        for i, name in enumerate(BACKENDS[:3])
    ]
    translation = TranslationMemo()
    first = translate_incrementally(world.inputs().model, "edge", {}, None, translation)
    rule = ir.Rule("r9/0", (), (ir.WeightedBackend("authz", 1),))
    world.routes.append(ir.Route("r9", ("edge",), (), (rule,)))
    second = translate_incrementally(world.inputs().model, "edge", {}, None, translation)
    names = [cluster.name for cluster in second[typeurls.CLUSTER]]
    assert names == ["authz", "b0", "b1", "b2"]
    assert all(a is b for a, b in zip(first[typeurls.CLUSTER], second[typeurls.CLUSTER][1:], strict=True))
    assert translation.states["edge"].built == 1  # the new route's Envoy route only
    assert second == translate_gateway(world.inputs().model, "edge", {}, None) | {
        typeurls.ROUTE: second[typeurls.ROUTE]
    }
