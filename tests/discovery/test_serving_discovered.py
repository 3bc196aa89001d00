"""Discovered endpoints in served snapshots: ``GitxdsService`` in-process, FAKE API server (tests/fakes).

A slice change publishes a snapshot that differs from the one before only in that backend's
ClusterLoadAssignment; every other resource and table is the very same encoded object. A full config
rebuild keeps the discovered endpoints, and a removed kubernetes backend stops its watch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment

from fakes.kube_api import FakeKubeApi, endpoint, endpoint_slice
from gitxds import typeurls
from gitxds.gitops.service import GitxdsService, ServeOptions
from gitxds.xds.cache import Snapshot
from gitxds.xds.cache.encoding import decode_any
from waiting import eventually

GATEWAY = """\
apiVersion: gitxds.dev/v1alpha1
kind: Gateway
metadata: {name: edge}
spec:
  proxies: {cluster: edge}
  listeners: [{name: http, port: 10080, address: 127.0.0.1}]
"""
BACKENDS = """\
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {name: chat}
spec:
  kubernetes: {service: chat, namespace: ai, port: 8000}
---
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {name: embed}
spec:
  kubernetes: {service: embed, namespace: ai, port: 8000}
---
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {name: static}
spec:
  endpoints: [{address: 127.0.0.9, port: 9000}]
"""
ROUTE = """\
apiVersion: gitxds.dev/v1alpha1
kind: Route
metadata: {name: api}
spec:
  gateways: [edge]
  rules:
    - {name: chat, matches: [{path: {prefix: /chat}}], backends: [{name: chat}], timeout: TIMEOUT}
    - {name: embed, matches: [{path: {prefix: /embed}}], backends: [{name: embed}]}
    - {name: static, matches: [{path: {prefix: /}}], backends: [{name: static}]}
"""
PORTS = [("http", 8000)]


@pytest.fixture
def fake_api() -> Iterator[FakeKubeApi]:
    with FakeKubeApi() as api:
        api.apply("ai", endpoint_slice("chat-1", "chat", [endpoint("10.1.0.1")], ports=PORTS))
        api.apply("ai", endpoint_slice("embed-1", "embed", [endpoint("10.2.0.1")], ports=PORTS))
        yield api


def write_config(directory: Path, *, timeout: str = "30s", backends: str = BACKENDS) -> None:
    directory.mkdir(exist_ok=True)
    (directory / "gateway.yaml").write_text(GATEWAY)
    (directory / "backends.yaml").write_text(backends)
    (directory / "route.yaml").write_text(ROUTE.replace("TIMEOUT", timeout))


def endpoint_addresses(snapshot: Snapshot, cluster: str) -> list[str]:
    encoded = snapshot.resources(typeurls.ENDPOINT).resources[cluster]
    assignment = decode_any(encoded, ClusterLoadAssignment)
    return [
        lb.endpoint.address.socket_address.address
        for group in assignment.endpoints
        for lb in group.lb_endpoints
    ]


def run(
    tmp: Path,
    fake: FakeKubeApi,
    scenario: Callable[[GitxdsService], Awaitable[None]],
    *,
    discovery_sync_seconds: float = 10.0,
    backends: str = BACKENDS,
    secrets_dir: Path | None = None,
) -> None:
    write_config(tmp / "config", backends=backends)
    options = ServeOptions(
        config_dir=tmp / "config",
        xds_address="127.0.0.1:0",
        admin_address="127.0.0.1:0",
        envoy_validate=False,
        kubeconfig=fake.write_kubeconfig(tmp / "kubeconfig"),
        discovery_sync_seconds=discovery_sync_seconds,
        secrets_dir=secrets_dir,
    )

    async def main() -> None:
        service = GitxdsService(options)
        await service.start()
        try:
            await scenario(service)
        finally:
            await service.stop(grace=0)

    asyncio.run(main())


def test_a_slice_change_replaces_only_that_backends_endpoints(tmp_path: Path, fake_api: FakeKubeApi) -> None:
    async def scenario(service: GitxdsService) -> None:
        await eventually(lambda: endpoint_addresses(service.cache.get("edge"), "chat") == ["10.1.0.1"])
        await eventually(lambda: endpoint_addresses(service.cache.get("edge"), "embed") == ["10.2.0.1"])
        before = service.cache.get("edge")
        assert before is not None

        fake_api.apply("ai", endpoint_slice("chat-1", "chat", [endpoint("10.1.0.2")], ports=PORTS))
        await eventually(lambda: service.cache.get("edge") is not before)
        after = service.cache.get("edge")
        assert after is not None
        assert endpoint_addresses(after, "chat") == ["10.1.0.2"]
        for type_url in (typeurls.LISTENER, typeurls.ROUTE, typeurls.CLUSTER, typeurls.SECRET):
            assert after.resources(type_url) is before.resources(type_url)
        old, new = before.resources(typeurls.ENDPOINT), after.resources(typeurls.ENDPOINT)
        assert new.resources["embed"] is old.resources["embed"]
        assert new.resources["static"] is old.resources["static"]
        assert new.resources["chat"].version != old.resources["chat"].version
        assert after.config_version == before.config_version
        assert service.reconciler.status.snapshot_versions["edge"] == after.version

    run(tmp_path, fake_api, scenario)


def test_a_full_rebuild_keeps_discovered_endpoints(tmp_path: Path, fake_api: FakeKubeApi) -> None:
    async def scenario(service: GitxdsService) -> None:
        await eventually(lambda: endpoint_addresses(service.cache.get("edge"), "chat") == ["10.1.0.1"])
        write_config(tmp_path / "config", timeout="10s")
        attempt = await service.reconciler.reload("test edit")
        assert attempt.accepted, attempt.diagnostics
        rebuilt = service.cache.get("edge")
        assert rebuilt is not None and rebuilt.config_version == attempt.version
        assert endpoint_addresses(rebuilt, "chat") == ["10.1.0.1"]
        assert endpoint_addresses(rebuilt, "embed") == ["10.2.0.1"]

    run(tmp_path, fake_api, scenario)


def test_watches_follow_the_kubernetes_backends_of_the_config(tmp_path: Path, fake_api: FakeKubeApi) -> None:
    async def scenario(service: GitxdsService) -> None:
        await eventually(lambda: fake_api.open_watches == 2)
        without_embed = BACKENDS.replace("service: embed", "service: chat")
        write_config(tmp_path / "config", backends=without_embed)
        assert (await service.reconciler.reload("drop embed")).accepted
        await eventually(lambda: fake_api.open_watches == 1)
        snapshot = service.cache.get("edge")
        assert snapshot is not None
        assert endpoint_addresses(snapshot, "embed") == ["10.1.0.1"]  # now the chat Service's pods

    run(tmp_path, fake_api, scenario)


def test_a_started_replica_already_has_the_endpoints(tmp_path: Path, fake_api: FakeKubeApi) -> None:
    async def scenario(service: GitxdsService) -> None:
        snapshot = service.cache.get("edge")  # no waiting: start() waited for the first lists
        assert snapshot is not None and endpoint_addresses(snapshot, "chat") == ["10.1.0.1"]
        assert service.ready()

    run(tmp_path, fake_api, scenario)


def test_not_ready_until_the_endpointslices_were_listed(tmp_path: Path, fake_api: FakeKubeApi) -> None:
    fake_api.fail_next(10_000, status=503)

    async def scenario(service: GitxdsService) -> None:
        assert service.reconciler.status.served is not None
        assert not service.ready()  # serving, but a proxy would get no endpoints for chat and embed
        fake_api.clear_failures()
        await eventually(service.ready, timeout=10)
        assert endpoint_addresses(service.cache.get("edge"), "chat") == ["10.1.0.1"]

    run(tmp_path, fake_api, scenario, discovery_sync_seconds=0.3)


def test_config_dump_shows_the_discovered_endpoints(tmp_path: Path, fake_api: FakeKubeApi) -> None:
    async def scenario(service: GitxdsService) -> None:
        dump = service.config_dump("edge")
        assert dump is not None
        by_cluster = {doc["cluster_name"]: doc for doc in dump["resources"]["endpoints"]}
        chat = by_cluster["chat"]["endpoints"][0]["lb_endpoints"]
        assert [e["endpoint"]["address"]["socket_address"]["address"] for e in chat] == ["10.1.0.1"]

    run(tmp_path, fake_api, scenario)


def test_status_lists_each_kubernetes_source_and_its_failures(tmp_path: Path, fake_api: FakeKubeApi) -> None:
    async def scenario(service: GitxdsService) -> None:
        rows = {row["service"]: row for row in service.status()["kubernetes"]}
        assert rows["chat"] == {
            "namespace": "ai",
            "service": "chat",
            "port": 8000,
            "listed": True,
            "endpoints": ["10.1.0.1"],
            "last_error": None,
        }
        fake_api.fail_next(10_000, status=403)
        fake_api.drop_connections()
        await eventually(lambda: "403" in (service.status()["kubernetes"][0]["last_error"] or ""))
        assert service.status()["kubernetes"][0]["endpoints"] == ["10.1.0.1"]  # the last known ones stay
        fake_api.clear_failures()

    run(tmp_path, fake_api, scenario)


def test_discovered_endpoints_carry_the_backends_request_headers(
    tmp_path: Path, fake_api: FakeKubeApi
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "chat-key").write_text("s3cret\n")
    with_headers = BACKENDS.replace(
        "  kubernetes: {service: chat, namespace: ai, port: 8000}",
        "  kubernetes: {service: chat, namespace: ai, port: 8000}\n"
        "  requestHeaders: {set: {authorization: {secretRef: chat-key}}}",
    )

    async def scenario(service: GitxdsService) -> None:
        snapshot = service.cache.get("edge")
        assert snapshot is not None and endpoint_addresses(snapshot, "chat") == ["10.1.0.1"]
        encoded = snapshot.resources(typeurls.ENDPOINT).resources["chat"]
        [lb] = decode_any(encoded, ClusterLoadAssignment).endpoints[0].lb_endpoints
        gitxds = lb.metadata.filter_metadata["gitxds"]
        assert gitxds["backend"] == "chat"
        assert gitxds["request_headers"]["authorization"] == "s3cret"

    run(tmp_path, fake_api, scenario, backends=with_headers, secrets_dir=secrets)
