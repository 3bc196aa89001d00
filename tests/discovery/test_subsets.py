"""Pod selectors: a source takes only the endpoints whose pod carries its labels (real ``kubernetes``
client against the FAKE API server in tests/fakes, pods watched beside the slices)."""

from __future__ import annotations

from pathlib import Path

from fakes.kube_api import FakeKubeApi, endpoint, endpoint_slice, pod
from gitxds import ir
from gitxds.discovery import EndpointDiscovery

from .test_discovery import Recorder, addresses, eventually, fake_api, run

__all__ = ["fake_api"]  # the fixture, used by name

ALL = ir.KubernetesEndpoints(service="chat", namespace="ai", port=8080)
V1 = ir.KubernetesEndpoints(service="chat", namespace="ai", port=8080, selector=(("version", "v1"),))
V2 = ir.KubernetesEndpoints(service="chat", namespace="ai", port=8080, selector=(("version", "v2"),))
V2_GOLD = ir.KubernetesEndpoints(
    service="chat", namespace="ai", port=8080, selector=(("tier", "gold"), ("version", "v2"))
)
PODS = {  # name -> (address, labels)
    "chat-v1-a": ("10.0.0.1", {"app": "chat", "version": "v1"}),
    "chat-v1-b": ("10.0.0.2", {"app": "chat", "version": "v1"}),
    "chat-v2-a": ("10.0.0.3", {"app": "chat", "version": "v2", "tier": "gold"}),
    "chat-debug": ("10.0.0.4", {"app": "chat"}),
}


def start_chat(api: FakeKubeApi, extra: list[dict[str, object]] | None = None) -> None:
    """Service ai/chat: one slice whose endpoints point at PODS, and the pods themselves."""
    for name, (address, labels) in PODS.items():
        api.apply("ai", pod(name, address, labels))
    endpoints = [endpoint(address, pod=name) for name, (address, _) in PODS.items()]
    api.apply("ai", endpoint_slice("chat-abc", "chat", [*endpoints, *(extra or [])]))


def test_a_selector_takes_the_ready_endpoints_of_its_pods_only(fake_api: FakeKubeApi, tmp_path: Path) -> None:
    start_chat(fake_api, extra=[endpoint("10.0.0.9")])  # no targetRef: a hand-made endpoint

    async def scenario(discovery: EndpointDiscovery, changes: Recorder) -> None:
        discovery.follow([ALL, V1, V2, V2_GOLD])
        assert await discovery.wait_synced(5)
        assert addresses(discovery, V1) == ["10.0.0.1", "10.0.0.2"]
        assert addresses(discovery, V2) == ["10.0.0.3"]
        assert addresses(discovery, V2_GOLD) == ["10.0.0.3"]  # every label must match
        assert addresses(discovery, ALL) == ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.9"]
        assert fake_api.lists("pods") == 1  # one pod watch per namespace, whatever the selectors
        [v1_row] = [row for row in discovery.status() if row.get("selector") == {"version": "v1"}]
        assert v1_row["endpoints"] == ["10.0.0.1", "10.0.0.2"]
        assert v1_row["listed"]

    run(fake_api, tmp_path, scenario)


def test_relabelled_added_and_removed_pods_move_between_subsets(
    fake_api: FakeKubeApi, tmp_path: Path
) -> None:
    start_chat(fake_api)

    async def scenario(discovery: EndpointDiscovery, changes: Recorder) -> None:
        discovery.follow([ALL, V1, V2])
        assert await discovery.wait_synced(5)
        reported = len(changes.changes)

        fake_api.relabel("ai", "chat-v1-b", {"app": "chat", "version": "v2"})
        await eventually(lambda: addresses(discovery, V2) == ["10.0.0.2", "10.0.0.3"])
        assert addresses(discovery, V1) == ["10.0.0.1"]
        assert sorted(changes.changes[reported:], key=str) == sorted([V1, V2], key=str)  # not ALL

        fake_api.delete("ai", "chat-v2-a", resource="pods")  # the slice still names it
        await eventually(lambda: addresses(discovery, V2) == ["10.0.0.2"])

        fake_api.apply("ai", pod("chat-v1-c", "10.0.0.5", {"version": "v1"}))
        endpoints = [endpoint(a, pod=n) for n, (a, _) in PODS.items()] + [
            endpoint("10.0.0.5", pod="chat-v1-c")
        ]
        fake_api.apply("ai", endpoint_slice("chat-abc", "chat", endpoints))
        await eventually(lambda: addresses(discovery, V1) == ["10.0.0.1", "10.0.0.5"])

    run(fake_api, tmp_path, scenario)


def test_a_pod_change_that_keeps_its_labels_is_not_reported(fake_api: FakeKubeApi, tmp_path: Path) -> None:
    start_chat(fake_api)

    async def scenario(discovery: EndpointDiscovery, changes: Recorder) -> None:
        discovery.follow([V1])
        assert await discovery.wait_synced(5)
        reported = len(changes.changes)
        address, labels = PODS["chat-v1-a"]
        restarted = pod("chat-v1-a", address, labels)
        restarted["status"]["phase"] = "Pending"  # a status update: labels unchanged
        version = fake_api.apply("ai", restarted)
        await eventually(lambda: version in fake_api.sent_at)
        fake_api.relabel("ai", "chat-v1-a", {"version": "v0"})
        await eventually(lambda: addresses(discovery, V1) == ["10.0.0.2"])
        assert changes.changes[reported:] == [V1]  # the relabel, not the status update

    run(fake_api, tmp_path, scenario)


def test_an_expired_pod_watch_lists_again_and_misses_nothing(fake_api: FakeKubeApi, tmp_path: Path) -> None:
    start_chat(fake_api)

    async def scenario(discovery: EndpointDiscovery, changes: Recorder) -> None:
        discovery.follow([V1])
        assert await discovery.wait_synced(5)
        await eventually(lambda: fake_api.open_watches == 2)  # slices and pods
        fake_api.compact()  # both open watches get ERROR 410
        fake_api.relabel("ai", "chat-v1-b", {"version": "v2"})
        await eventually(lambda: addresses(discovery, V1) == ["10.0.0.1"])
        assert fake_api.lists("pods") == 2
        await eventually(lambda: fake_api.open_watches == 2)
        fake_api.fail_next(2, status=503)
        fake_api.drop_connections()  # both watches retry with backoff after the failures
        fake_api.relabel("ai", "chat-v1-b", {"version": "v1"})
        await eventually(lambda: addresses(discovery, V1) == ["10.0.0.1", "10.0.0.2"])

    run(fake_api, tmp_path, scenario)


def test_the_pod_watch_runs_only_while_a_source_selects_pods(fake_api: FakeKubeApi, tmp_path: Path) -> None:
    start_chat(fake_api)

    async def scenario(discovery: EndpointDiscovery, changes: Recorder) -> None:
        discovery.follow([ALL])
        assert await discovery.wait_synced(5)
        await eventually(lambda: fake_api.open_watches == 1)
        assert fake_api.lists("pods") == 0
        discovery.follow([ALL, V1])
        assert await discovery.wait_synced(5)
        assert addresses(discovery, V1) == ["10.0.0.1", "10.0.0.2"]
        await eventually(lambda: fake_api.open_watches == 2)
        discovery.follow([ALL])
        await eventually(lambda: fake_api.open_watches == 1)
        assert discovery.endpoints(V1) == ()

    run(fake_api, tmp_path, scenario)
