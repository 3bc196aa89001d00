"""translate_gateway: a complete, consistent, deterministic set of resources for one gateway."""

from __future__ import annotations

from pathlib import Path

import pytest
from envoy.config.listener.v3.listener_pb2 import Listener
from envoy.config.route.v3.route_pb2 import RouteConfiguration
from envoy.extensions.filters.network.http_connection_manager.v3.http_connection_manager_pb2 import (
    HttpConnectionManager,
)

from gitxds import ir, typeurls
from gitxds.compile import compile_directory
from gitxds.translators.xds import REDACTED, translate_gateway

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ai-gateway"
EXAMPLE_SECRETS = {"provider-b-key": "Bearer example-secret-value"}


@pytest.fixture(scope="module")
def example() -> ir.Model:
    result = compile_directory(EXAMPLE)
    assert not result.diagnostics, [str(d) for d in result.diagnostics]
    return result.model


def manager_of(listener: Listener) -> HttpConnectionManager:
    manager = HttpConnectionManager()
    listener.filter_chains[0].filters[0].typed_config.Unpack(manager)
    return manager


def clusters_named_by(config: RouteConfiguration) -> set[str]:
    names = set()
    for host in config.virtual_hosts:
        for route in host.routes:
            action = route.route
            names.update({action.cluster} - {""})
            names.update(c.name for c in action.weighted_clusters.clusters)
            names.update(m.cluster for m in action.request_mirror_policies)
    return names


def test_every_type_is_present_sorted_and_unique(example: ir.Model) -> None:
    resources = translate_gateway(example, "edge", EXAMPLE_SECRETS)
    assert set(resources) == set(typeurls.SHORT_NAMES)
    for type_url, messages in resources.items():
        key = "cluster_name" if type_url == typeurls.ENDPOINT else "name"
        names = [getattr(message, key) for message in messages]
        assert names == sorted(set(names)), type_url


def test_the_resources_are_consistent_with_each_other(example: ir.Model) -> None:
    resources = translate_gateway(example, "edge", EXAMPLE_SECRETS)
    clusters = {c.name: c for c in resources[typeurls.CLUSTER]}
    route_configs = {r.name: r for r in resources[typeurls.ROUTE]}
    for listener in resources[typeurls.LISTENER]:
        assert manager_of(listener).rds.route_config_name in route_configs
    for config in route_configs.values():
        assert clusters_named_by(config) <= set(clusters)
    eds = {name for name, c in clusters.items() if c.HasField("eds_cluster_config")}
    assert eds == {a.cluster_name for a in resources[typeurls.ENDPOINT]}
    assert {"authz", "chat-v1+fallback+provider-b", "provider-b"} <= set(clusters)


def test_secret_values_are_redacted_in_render_mode_and_resolved_otherwise(example: ir.Model) -> None:
    rendered = translate_gateway(example, "edge")
    served = translate_gateway(example, "edge", EXAMPLE_SECRETS)
    rendered_bytes = b"".join(m.SerializeToString() for ms in rendered.values() for m in ms)
    served_bytes = b"".join(m.SerializeToString() for ms in served.values() for m in ms)
    assert b"example-secret-value" not in rendered_bytes
    assert REDACTED.encode() in rendered_bytes
    assert b"Bearer example-secret-value" in served_bytes


def test_the_same_model_gives_the_same_bytes(example: ir.Model) -> None:
    first = translate_gateway(example, "edge", EXAMPLE_SECRETS)
    second = translate_gateway(compile_directory(EXAMPLE).model, "edge", EXAMPLE_SECRETS)
    for type_url, messages in first.items():
        assert [m.SerializeToString(deterministic=True) for m in messages] == [
            m.SerializeToString(deterministic=True) for m in second[type_url]
        ]


def test_a_gateway_gets_only_its_routes_and_the_backends_they_use() -> None:
    static = ir.StaticEndpoints((ir.Endpoint("10.0.0.1", 80),))
    to_admin = (ir.Rule("admin/0", (), (ir.WeightedBackend("admin", 1),)),)
    model = ir.Model(
        gateways=(
            ir.Gateway("edge", ir.ProxySelector(cluster="edge"), (ir.Listener("http", 10000),)),
            ir.Gateway(
                "internal",
                ir.ProxySelector(cluster="internal"),
                (ir.Listener("https", 8443, protocol=ir.ListenerProtocol.HTTPS, tls_secret="internal-cert"),),
            ),
        ),
        backends=(ir.Backend("admin", static), ir.Backend("chat", static), ir.Backend("unused", static)),
        routes=(
            ir.Route("chat", ("edge",), (), (ir.Rule("chat/0", (), (ir.WeightedBackend("chat", 1),)),)),
            ir.Route("admin", ("internal",), (), to_admin),
        ),
    )
    edge = translate_gateway(model, "edge")
    assert [c.name for c in edge[typeurls.CLUSTER]] == ["chat"]
    assert [listener.name for listener in edge[typeurls.LISTENER]] == ["edge/http"]
    assert edge[typeurls.SECRET] == []
    internal = translate_gateway(model, "internal")
    assert [c.name for c in internal[typeurls.CLUSTER]] == ["admin"]
    assert [r.name for r in internal[typeurls.ROUTE]] == ["internal/8443"]
    assert [s.name for s in internal[typeurls.SECRET]] == ["internal-cert"]
