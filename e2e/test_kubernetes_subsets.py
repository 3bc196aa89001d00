"""Version subsets on Kubernetes end to end: ``gitxds serve --kubeconfig`` against the FAKE API server
(tests/fakes/kube_api.py; no real API server can run here), a real Envoy and real HTTP "pods" (one
127.0.0.0/8 address each, on one shared port).

Service ai/chat has three v1 pods, one v2 pod and one pod without a version; Backends chat-v1 and
chat-v2 select them by label and a Route splits 90/10. Service default/reviews has v1, v2 and v3
pods and is configured by importing Istio's reviews 90/10 sample with ``destination-rule-all.yaml``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from harness import EnvoyProcess, free_port, tally, wait_for
from harness.configs import document, gateway_doc, route_doc, write_config
from harness.kube import PodCluster
from harness.serve import ServeProcess, gitxds_command

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "istio" / "samples"
CHAT_PODS = {
    "chat-v1-a": {"app": "chat", "version": "v1"},
    "chat-v1-b": {"app": "chat", "version": "v1"},
    "chat-v1-c": {"app": "chat", "version": "v1"},
    "chat-v2-a": {"app": "chat", "version": "v2"},
    "chat-debug": {"app": "chat"},  # no version: no subset selects it
}
REVIEWS_PODS = {f"reviews-{v}": {"app": "reviews", "version": v} for v in ("v1", "v2", "v3")}


def chat_documents(listen: int, cluster: str, pod_port: int) -> list[dict[str, Any]]:
    """Gateway edge, Backends chat-v1 / chat-v2 selecting pods by version, and a 90/10 Route."""

    def version(name: str) -> dict[str, Any]:
        source = {"service": "chat", "namespace": "ai", "port": pod_port, "selector": {"version": name}}
        return document("Backend", f"chat-{name}", {"kubernetes": source})

    split = [{"backends": [{"name": "chat-v1", "weight": 90}, {"name": "chat-v2", "weight": 10}]}]
    return [
        gateway_doc("edge", listen, cluster=cluster),
        version("v1"),
        version("v2"),
        route_doc("chat", split, hostnames=["chat"]),
    ]


REQUESTS = 1000


class Subsets:
    """The pods, the config (chat written here, reviews imported from Istio), gitxds serve, one Envoy."""

    def __init__(self, tmp: Path) -> None:
        self.cluster = PodCluster()
        self.cluster.add_service("ai", "chat", CHAT_PODS)
        self.cluster.add_service("default", "reviews", REVIEWS_PODS)
        self.listen = free_port()
        config = tmp / "config"
        self.import_reviews(config)
        cluster_name = f"edge-{self.listen}"
        pod_port = self.cluster.pod_port
        write_config(config, chat_documents(self.listen, cluster_name, pod_port), name="chat.yaml")
        self.serve = ServeProcess(
            config, tmp, "--kubeconfig", str(self.cluster.kubeconfig(tmp / "kubeconfig"))
        )
        bootstrap = YAML(typ="safe").load(self.serve.bootstrap("envoy-1", cluster_name))
        self.envoy = EnvoyProcess(bootstrap, tmp).start()
        self.envoy.wait_listening(self.listen, timeout=10)

    def import_reviews(self, config: Path) -> None:
        """``gitxds import istio`` of the sample; then the pods' port, as its port warning asks."""
        samples = [
            str(SAMPLES / n) for n in ("destination-rule-all.yaml", "virtual-service-reviews-90-10.yaml")
        ]
        gitxds_command("import", "istio", *samples, "--output", str(config), "--gateway", "edge")
        yaml = YAML()
        backends_file = config / "backends.yaml"
        backends = list(yaml.load_all(backends_file.read_text()))
        for backend in backends:
            assert backend["spec"]["kubernetes"]["port"] == 80  # the port Istio would read from the Service
            backend["spec"]["kubernetes"]["port"] = self.cluster.pod_port
        with backends_file.open("w") as out:
            yaml.dump_all(backends, out)

    def hosts(self, backend: str) -> list[str]:
        return sorted(host.address for host in self.envoy.hosts(backend))

    def addresses(self, *pods: str) -> list[str]:
        return sorted(self.cluster.address(p) for p in pods)

    def answers(self, hostname: str, count: int) -> Counter[str]:
        return tally(self.listen, count, "/", headers={"host": hostname})

    def pushes(self) -> dict[str, float]:
        kinds = ("endpoints", "clusters", "listeners", "routes")
        return {kind: self.serve.metric("gitxds_xds_pushes_total", type=kind) for kind in kinds}

    def close(self) -> None:
        self.envoy.stop()
        self.serve.stop()
        self.cluster.stop()


@pytest.fixture(scope="module")
def subsets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Subsets]:
    running = Subsets(tmp_path_factory.mktemp("subsets"))
    wanted = {
        "chat-v1": running.addresses("chat-v1-a", "chat-v1-b", "chat-v1-c"),
        "chat-v2": running.addresses("chat-v2-a"),
        "reviews-v1": running.addresses("reviews-v1"),
        "reviews-v2": running.addresses("reviews-v2"),
    }
    wait_for(
        lambda: all(running.hosts(b) == a for b, a in wanted.items()), 20, message="Envoy has the subsets"
    )
    yield running
    running.close()


def share(answers: Counter[str], *pods: str) -> float:
    return sum(answers[p] for p in pods) / sum(answers.values())


def test_a_90_10_route_over_two_selectors_reaches_the_right_pods(subsets: Subsets) -> None:
    answers = subsets.answers("chat", REQUESTS)
    assert set(answers) <= set(CHAT_PODS), answers  # every request answered by a pod
    assert 0.87 <= share(answers, "chat-v1-a", "chat-v1-b", "chat-v1-c") <= 0.93, answers
    assert 0.07 <= share(answers, "chat-v2-a") <= 0.13, answers
    assert answers["chat-debug"] == 0  # no version label: in no subset
    assert min(answers[p] for p in ("chat-v1-a", "chat-v1-b", "chat-v1-c")) > 0


def test_relabelling_a_v1_pod_to_v2_moves_its_traffic_in_one_endpoints_push(subsets: Subsets) -> None:
    wait_for(lambda: subsets.serve.status()["proxies"][0]["in_sync"], 10, message="proxy ACKed")
    before = subsets.pushes()
    subsets.cluster.relabel("ai", "chat-v1-b", {"app": "chat", "version": "v2"})
    try:
        wait_for(
            lambda: (
                subsets.hosts("chat-v2") == subsets.addresses("chat-v1-b", "chat-v2-a")
                and subsets.hosts("chat-v1") == subsets.addresses("chat-v1-a", "chat-v1-c")
            ),
            10,
            message="Envoy moved chat-v1-b to chat-v2",
        )
        wait_for(lambda: subsets.serve.status()["proxies"][0]["in_sync"], 10, message="proxy ACKed")
        after = subsets.pushes()
        # both subsets' endpoints in one EDS push; nothing else was sent again
        assert after == {**before, "endpoints": before["endpoints"] + 1}, (before, after)

        answers = subsets.answers("chat", 300)
        assert share(answers, "chat-v1-a", "chat-v1-c") >= 0.8, answers
        assert answers["chat-v1-b"] > 0 and answers["chat-v2-a"] > 0, answers
        assert share(answers, "chat-v1-b", "chat-v2-a") <= 0.2, answers
        assert answers["chat-debug"] == 0
    finally:
        subsets.cluster.relabel("ai", "chat-v1-b", {"app": "chat", "version": "v1"})
        wait_for(
            lambda: subsets.hosts("chat-v2") == subsets.addresses("chat-v2-a"), 10, message="chat-v1-b back"
        )


def test_the_imported_reviews_90_10_sample_splits_between_the_v1_and_v2_pods(subsets: Subsets) -> None:
    answers = subsets.answers("reviews", REQUESTS)
    assert set(answers) <= set(REVIEWS_PODS), answers
    assert 0.87 <= share(answers, "reviews-v1") <= 0.93, answers
    assert 0.07 <= share(answers, "reviews-v2") <= 0.13, answers
    assert answers["reviews-v3"] == 0  # the v3 subset exists but the route sends it nothing
