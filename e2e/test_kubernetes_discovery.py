"""Kubernetes endpoint discovery end to end: ``gitxds serve --kubeconfig`` against the FAKE API server
(tests/fakes/kube_api.py; no real API server can run here), a real Envoy and real upstreams.

An EndpointSlice change moves traffic to another pod without a config commit. The time from the fake
API server writing the watch event to Envoy's admin ``/clusters`` listing the new endpoint is measured
over several trials and printed (run with ``-s`` to see it).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from fakes.kube_api import FakeKubeApi, endpoint, endpoint_slice
from harness import EnvoyProcess, free_port, get, wait_for
from harness.serve import ServeProcess

CONFIG = """\
apiVersion: gitxds.dev/v1alpha1
kind: Gateway
metadata: {{name: edge}}
spec:
  proxies: {{cluster: {cluster}}}
  listeners: [{{name: http, port: {listen}, address: 127.0.0.1}}]
---
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {{name: chat}}
spec:
  kubernetes: {{service: chat, namespace: ai, port: {pod_port}}}
  connectTimeout: 1s
---
apiVersion: gitxds.dev/v1alpha1
kind: Route
metadata: {{name: chat}}
spec:
  gateways: [edge]
  rules: [{{matches: [{{path: {{prefix: /}}}}], backends: [{{name: chat}}]}}]
"""
POD_A, POD_B = "127.0.0.1", "127.0.0.2"  # two "pods" listening on the same port, as pods do
TRIALS = 9


class Pod:
    """A minimal HTTP server on one loopback address answering ``x-upstream: NAME``."""

    def __init__(self, name: str, address: str, port: int) -> None:
        pod = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                body = pod.name.encode()
                self.send_response(200)
                self.send_header("x-upstream", pod.name)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.name = name
        self.server = ThreadingHTTPServer((address, port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Cluster:
    """The fake API server, two pods of Service ai/chat, gitxds serve and one Envoy."""

    def __init__(self, tmp: Path) -> None:
        self.pod_port = free_port()
        self.pods = {POD_A: Pod("pod-a", POD_A, self.pod_port), POD_B: Pod("pod-b", POD_B, self.pod_port)}
        self.api = FakeKubeApi().start()
        self.point_at(POD_A)
        self.listen = free_port()
        config = tmp / "config"
        config.mkdir()
        text = CONFIG.format(cluster=f"edge-{self.listen}", listen=self.listen, pod_port=self.pod_port)
        (config / "config.yaml").write_text(text)
        kubeconfig = self.api.write_kubeconfig(tmp / "kubeconfig")
        self.serve = ServeProcess(config, tmp, "--kubeconfig", str(kubeconfig))
        bootstrap = YAML(typ="safe").load(self.serve.bootstrap("envoy-1", f"edge-{self.listen}"))
        self.envoy = EnvoyProcess(bootstrap, tmp).start()
        self.envoy.wait_listening(self.listen, timeout=10)

    def point_at(self, address: str) -> int:
        """Service chat now has one ready pod, at ``address``; returns the event's resourceVersion."""
        pod = endpoint(address)
        gone = endpoint(POD_B if address == POD_A else POD_A, ready=False, terminating=True, serving=False)
        ports = [("http", self.pod_port)]
        return self.api.apply("ai", endpoint_slice("chat-abc12", "chat", [pod, gone], ports=ports))

    def envoy_hosts(self) -> list[str]:
        return [host.address for host in self.envoy.hosts("chat")]

    def answers(self) -> str:
        response = get(self.listen, "/v1/chat/completions")
        return response.upstream or f"status:{response.status}"

    def close(self) -> None:
        self.envoy.stop()
        self.serve.stop()
        self.api.stop()
        for pod in self.pods.values():
            pod.stop()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    running = Cluster(tmp_path)
    yield running
    running.close()


def seconds_until_envoy_has(cluster: Cluster, version: int, address: str) -> float:
    """From the fake API server writing event ``version`` to Envoy listing only ``address``."""
    while cluster.envoy_hosts() != [address]:
        time.sleep(0.001)
    seen = time.monotonic()
    wait_for(lambda: version in cluster.api.sent_at, 2, message="the watch event was sent")
    return seen - cluster.api.sent_at[version]


def test_an_endpointslice_change_moves_traffic_to_the_new_pod(cluster: Cluster) -> None:
    wait_for(lambda: cluster.envoy_hosts() == [POD_A], 15, message="Envoy has pod A from the first list")
    assert {cluster.answers() for _ in range(10)} == {"pod-a"}

    cluster.point_at(POD_B)
    wait_for(lambda: cluster.envoy_hosts() == [POD_B], 10, message="Envoy has pod B")
    assert {cluster.answers() for _ in range(10)} == {"pod-b"}
    wait_for(lambda: cluster.serve.status()["proxies"][0]["in_sync"], 5, message="proxy ACKed")
    status = cluster.serve.status()
    assert status["proxies"][0]["gateway"] == "edge"
    [chat] = status["kubernetes"]
    assert (chat["namespace"], chat["service"], chat["endpoints"]) == ("ai", "chat", [POD_B])


def test_slice_change_to_envoy_latency(cluster: Cluster) -> None:
    wait_for(lambda: cluster.envoy_hosts() == [POD_A], 15, message="Envoy has pod A from the first list")
    pushes_before = {
        kind: cluster.serve.metric("gitxds_xds_pushes_total", type=kind) for kind in ("clusters", "listeners")
    }
    latencies = []
    for trial in range(TRIALS):
        address = POD_B if trial % 2 == 0 else POD_A
        version = cluster.point_at(address)
        latencies.append(seconds_until_envoy_has(cluster, version, address))
    assert cluster.answers() == ("pod-b" if TRIALS % 2 else "pod-a")
    median_ms = statistics.median(latencies) * 1000
    print(
        f"\nEndpointSlice event -> Envoy /clusters: median {median_ms:.1f} ms over {TRIALS} trials "
        f"(min {min(latencies) * 1000:.1f}, max {max(latencies) * 1000:.1f})"
    )
    assert median_ms < 1000
    # Only EDS moved: no cluster or listener was pushed again.
    for kind, before in pushes_before.items():
        assert cluster.serve.metric("gitxds_xds_pushes_total", type=kind) == before, kind
