"""EndpointDiscovery with the real ``kubernetes`` client against the FAKE API server (tests/fakes)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from fakes.kube_api import FakeKubeApi, endpoint, endpoint_slice
from gitxds import ir
from gitxds.discovery import Backoff, DiscoveryUnavailableError, EndpointDiscovery, discovery_api
from waiting import eventually

MODELS = ir.KubernetesEndpoints(service="models", namespace="ai", port=8080)
MODELS_GRPC = ir.KubernetesEndpoints(service="models", namespace="ai", port=9090)
EMBED = ir.KubernetesEndpoints(service="embed", namespace="ai", port=8080)


@pytest.fixture
def fake_api() -> Iterator[FakeKubeApi]:
    with FakeKubeApi() as api:
        yield api


class Recorder:
    """Collects on_change calls and the thread they ran on."""

    def __init__(self) -> None:
        self.changes: list[ir.KubernetesEndpoints] = []
        self.threads: set[int] = set()

    def __call__(self, source: ir.KubernetesEndpoints) -> None:
        self.changes.append(source)
        self.threads.add(threading.get_ident())


def run(
    fake: FakeKubeApi, tmp: Path, scenario: Callable[[EndpointDiscovery, Recorder], Awaitable[None]]
) -> None:
    api = discovery_api(fake.write_kubeconfig(tmp / "kubeconfig"), in_cluster=False)

    async def main() -> None:
        recorder = Recorder()
        discovery = EndpointDiscovery(
            api,
            recorder,
            loop=asyncio.get_running_loop(),
            logger=logging.getLogger("test.discovery"),
            watch_seconds=30,
            backoff=Backoff(first=0.05, most=0.2),
        )
        try:
            await scenario(discovery, recorder)
            assert recorder.threads == {threading.get_ident()}, "callbacks ran off the event loop"
        finally:
            discovery.stop()

    asyncio.run(main())


def addresses(discovery: EndpointDiscovery, source: ir.KubernetesEndpoints) -> list[str]:
    return [e.address for e in discovery.endpoints(source)]


def test_lists_then_follows_added_modified_and_deleted_slices(fake_api: FakeKubeApi, tmp_path: Path) -> None:
    fake_api.apply("ai", endpoint_slice("models-1", "models", [endpoint("10.0.0.1")]))
    fake_api.apply("ai", endpoint_slice("other-1", "other", [endpoint("10.9.9.9")]))
    fake_api.apply("default", endpoint_slice("models-x", "models", [endpoint("10.8.8.8")]))

    async def scenario(discovery: EndpointDiscovery, changes: Recorder) -> None:
        discovery.follow([MODELS])
        assert await discovery.wait_synced(5)
        assert addresses(discovery, MODELS) == ["10.0.0.1"]  # other services and namespaces ignored
        assert changes.changes == [MODELS]

        fake_api.apply("ai", endpoint_slice("models-2", "models", [endpoint("10.0.0.2")]))
        await eventually(lambda: addresses(discovery, MODELS) == ["10.0.0.1", "10.0.0.2"])
        fake_api.apply("ai", endpoint_slice("models-1", "models", [endpoint("10.0.0.1", ready=False)]))
        await eventually(lambda: addresses(discovery, MODELS) == ["10.0.0.2"])
        fake_api.delete("ai", "models-2")
        await eventually(lambda: addresses(discovery, MODELS) == [])
        assert changes.changes == [MODELS] * 4

    run(fake_api, tmp_path, scenario)


def test_a_change_that_does_not_move_endpoints_is_not_reported(fake_api: FakeKubeApi, tmp_path: Path) -> None:
    fake_api.apply("ai", endpoint_slice("models-1", "models", [endpoint("10.0.0.1")]))

    async def scenario(discovery: EndpointDiscovery, changes: Recorder) -> None:
        discovery.follow([MODELS])
        assert await discovery.wait_synced(5)
        not_ready = endpoint("10.0.0.7", ready=False)
        version = fake_api.apply(
            "ai", endpoint_slice("models-1", "models", [endpoint("10.0.0.1"), not_ready])
        )
        await eventually(lambda: version in fake_api.sent_at)
        fake_api.apply("ai", endpoint_slice("models-1", "models", [endpoint("10.0.0.3")]))
        await eventually(lambda: addresses(discovery, MODELS) == ["10.0.0.3"])
        assert changes.changes == [MODELS, MODELS]

    run(fake_api, tmp_path, scenario)


def test_each_port_of_a_service_is_its_own_source(fake_api: FakeKubeApi, tmp_path: Path) -> None:
    ports = [("http", 8080), ("grpc", 9090)]
    fake_api.apply("ai", endpoint_slice("models-1", "models", [endpoint("10.0.0.1")], ports=ports))
    fake_api.apply("ai", endpoint_slice("models-2", "models", [endpoint("10.0.0.2")], ports=[("grpc", 9090)]))

    async def scenario(discovery: EndpointDiscovery, changes: Recorder) -> None:
        discovery.follow([MODELS, MODELS_GRPC])
        assert await discovery.wait_synced(5)
        assert addresses(discovery, MODELS) == ["10.0.0.1"]
        assert addresses(discovery, MODELS_GRPC) == ["10.0.0.1", "10.0.0.2"]
        assert [e.port for e in discovery.endpoints(MODELS_GRPC)] == [9090, 9090]
        assert fake_api.lists() == 1  # one watch per Service, whatever the number of ports

    run(fake_api, tmp_path, scenario)


def test_an_expired_watch_lists_again_and_misses_nothing(fake_api: FakeKubeApi, tmp_path: Path) -> None:
    fake_api.apply("ai", endpoint_slice("models-1", "models", [endpoint("10.0.0.1")]))

    async def scenario(discovery: EndpointDiscovery, changes: Recorder) -> None:
        discovery.follow([MODELS])
        assert await discovery.wait_synced(5)
        await eventually(lambda: fake_api.open_watches == 1)
        fake_api.compact()  # the open watch gets ERROR 410
        fake_api.apply("ai", endpoint_slice("models-2", "models", [endpoint("10.0.0.2")]))
        await eventually(lambda: addresses(discovery, MODELS) == ["10.0.0.1", "10.0.0.2"])
        assert fake_api.lists() == 2

    run(fake_api, tmp_path, scenario)


def test_a_dropped_connection_and_server_errors_are_retried(fake_api: FakeKubeApi, tmp_path: Path) -> None:
    fake_api.apply("ai", endpoint_slice("models-1", "models", [endpoint("10.0.0.1")]))

    async def scenario(discovery: EndpointDiscovery, changes: Recorder) -> None:
        discovery.follow([MODELS])
        assert await discovery.wait_synced(5)
        await eventually(lambda: fake_api.open_watches == 1)
        fake_api.fail_next(3, status=503)
        fake_api.drop_connections()
        fake_api.apply("ai", endpoint_slice("models-1", "models", [endpoint("10.0.0.4")]))
        await eventually(lambda: addresses(discovery, MODELS) == ["10.0.0.4"])
        await eventually(lambda: fake_api.open_watches == 1)
        fake_api.apply("ai", endpoint_slice("models-1", "models", [endpoint("10.0.0.5")]))
        await eventually(lambda: addresses(discovery, MODELS) == ["10.0.0.5"])

    run(fake_api, tmp_path, scenario)


def test_follow_starts_and_stops_watches_as_backends_come_and_go(
    fake_api: FakeKubeApi, tmp_path: Path
) -> None:
    fake_api.apply("ai", endpoint_slice("models-1", "models", [endpoint("10.0.0.1")]))
    fake_api.apply("ai", endpoint_slice("embed-1", "embed", [endpoint("10.0.1.1")]))

    async def scenario(discovery: EndpointDiscovery, changes: Recorder) -> None:
        discovery.follow([MODELS])
        assert await discovery.wait_synced(5)
        discovery.follow([MODELS, EMBED])
        assert await discovery.wait_synced(5)
        assert addresses(discovery, EMBED) == ["10.0.1.1"]
        await eventually(lambda: fake_api.open_watches == 2)

        discovery.follow([EMBED])
        await eventually(lambda: fake_api.open_watches == 1)
        assert discovery.endpoints(MODELS) == ()
        reported = len(changes.changes)
        fake_api.apply("ai", endpoint_slice("models-2", "models", [endpoint("10.0.0.2")]))
        fake_api.apply("ai", endpoint_slice("embed-1", "embed", [endpoint("10.0.1.2")]))
        await eventually(lambda: addresses(discovery, EMBED) == ["10.0.1.2"])
        assert changes.changes[reported:] == [EMBED]  # nothing about the Service no longer followed

    run(fake_api, tmp_path, scenario)


def test_without_kubeconfig_or_pod_there_is_no_client() -> None:
    with pytest.raises(DiscoveryUnavailableError, match="--kubeconfig"):
        discovery_api(None, in_cluster=False)
