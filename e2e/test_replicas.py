"""Two ``gitxds serve`` replicas on the same config: identical resources and versions, and an Envoy
moved from one replica to the other keeps serving and is sent nothing it already has.

Replicas share nothing but the config directory: every version is a content hash, so they agree.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment
from google.protobuf.any_pb2 import Any as AnyMessage
from ruamel.yaml import YAML

from fakes.kube_api import FakeKubeApi, endpoint, endpoint_slice
from gitxds import typeurls
from harness import EnvoyProcess, UpstreamServer, free_port, get, wait_for
from harness.serve import ServeProcess
from server.fake_envoy import FakeEnvoy

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
metadata: {{name: chat-v1}}
spec:
  endpoints: [{{address: 127.0.0.1, port: {v1}}}]
  outlierDetection: {{consecutive5xx: 5}}
---
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {{name: chat-v2}}
spec:
  endpoints: [{{address: 127.0.0.1, port: {v2}}}]
  requestHeaders: {{set: {{x-model: v2}}}}
---
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {{name: embed}}
spec:
  kubernetes: {{service: embed, namespace: ai, port: 8000}}
---
apiVersion: gitxds.dev/v1alpha1
kind: Route
metadata: {{name: chat}}
spec:
  gateways: [edge]
  rules:
    - name: embed
      matches: [{{path: {{prefix: /embed}}}}]
      backends: [{{name: embed}}]
    - name: split
      matches: [{{path: {{prefix: /}}}}]
      backends: [{{name: chat-v1, weight: {w1}}}, {{name: chat-v2, weight: {w2}}}]
      timeout: 5s
      retries: {{attempts: 2, on: [5xx]}}
"""
ALL_TYPES = (typeurls.CLUSTER, typeurls.ENDPOINT, typeurls.LISTENER, typeurls.ROUTE)


class Replicas:
    def __init__(self, tmp: Path) -> None:
        self.v1 = UpstreamServer("chat-v1").start()
        self.v2 = UpstreamServer("chat-v2").start()
        self.listen = free_port()
        self.cluster = f"edge-{self.listen}"
        self.config = tmp / "config"
        self.config.mkdir()
        self.write(w1=90, w2=10)
        self.api = FakeKubeApi().start()  # the FAKE API server of tests/fakes, for the embed Backend
        pods = [endpoint("10.0.3.7"), endpoint("10.0.1.2"), endpoint("10.0.2.9", ready=False)]
        self.api.apply("ai", endpoint_slice("embed-x1", "embed", pods, ports=[("http", 8000)]))
        self.api.apply(
            "ai", endpoint_slice("embed-x2", "embed", [endpoint("10.0.0.4")], ports=[("http", 8000)])
        )
        flags = ("--no-envoy-validate", "--kubeconfig", str(self.api.write_kubeconfig(tmp / "kubeconfig")))
        self.a = ServeProcess(self.config, tmp, *flags)
        self.b = ServeProcess(self.config, tmp, *flags)
        for replica in (self.a, self.b):
            wait_for(lambda r=replica: r.get("/readyz")[0] == 200, 15, message="replica ready")

    def write(self, *, w1: int, w2: int) -> None:
        text = CONFIG.format(
            cluster=self.cluster, listen=self.listen, v1=self.v1.port, v2=self.v2.port, w1=w1, w2=w2
        )
        (self.config / "config.yaml").write_text(text)

    def close(self) -> None:
        for process in (self.a, self.b):
            process.stop()
        self.api.stop()
        self.v1.stop()
        self.v2.stop()


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[Replicas]:
    running = Replicas(tmp_path)
    yield running
    running.close()


def served_resources(xds_port: int, cluster: str) -> dict[tuple[str, str], tuple[str, bytes]]:
    """Every resource a delta ADS client gets: (type, name) -> (version, serialized bytes)."""

    async def fetch() -> dict[tuple[str, str], tuple[str, bytes]]:
        client = await FakeEnvoy.connect(xds_port, "replica-check", cluster, delta=True)
        found: dict[tuple[str, str], tuple[str, bytes]] = {}
        try:
            for type_url in ALL_TYPES:
                await client.subscribe(type_url, ["*"])
                response = await client.recv(type_url)
                await client.delta_ack(response)
                for resource in response.resources:
                    found[(type_url, resource.name)] = (
                        resource.version,
                        resource.resource.SerializeToString(),
                    )
        finally:
            await client.close()
        return found

    return asyncio.run(fetch())


def test_two_replicas_serve_byte_identical_resources_and_versions(replicas: Replicas) -> None:
    status_a, status_b = replicas.a.status()["config"], replicas.b.status()["config"]
    assert status_a["served"]["version"] == status_b["served"]["version"]
    assert status_a["gateways"] == status_b["gateways"]
    assert status_a["gateways"][0]["snapshot_version"]

    dump_a = json.loads(replicas.a.get("/config_dump?gateway=edge")[1])
    dump_b = json.loads(replicas.b.get("/config_dump?gateway=edge")[1])
    assert dump_a == dump_b

    from_a = served_resources(replicas.a.xds_port, replicas.cluster)
    from_b = served_resources(replicas.b.xds_port, replicas.cluster)
    assert {type_url for type_url, _ in from_a} == set(ALL_TYPES)
    assert from_a == from_b
    embed = ClusterLoadAssignment()
    assert AnyMessage.FromString(from_a[(typeurls.ENDPOINT, "embed")][1]).Unpack(embed)
    addresses = [lb.endpoint.address.socket_address.address for g in embed.endpoints for lb in g.lb_endpoints]
    assert addresses == ["10.0.0.4", "10.0.1.2", "10.0.3.7"]  # discovered, in the same order on both


def envoy_between(replicas: Replicas, tmp: Path) -> EnvoyProcess:
    """An Envoy whose xDS cluster lists both replicas (delta ADS)."""
    bootstrap: dict[str, Any] = YAML(typ="safe").load(
        replicas.a.bootstrap("envoy-1", replicas.cluster, delta=True)
    )
    xds_cluster = bootstrap["static_resources"]["clusters"][0]
    endpoints = xds_cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    second = json.loads(json.dumps(endpoints[0]))
    second["endpoint"]["address"]["socket_address"]["port_value"] = replicas.b.xds_port
    endpoints.append(second)
    return EnvoyProcess(bootstrap, tmp).start()


class Traffic:
    """Requests through Envoy, one after another, counting failures, until stopped."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sent = 0
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                response = get(self.port, "/v1/chat/completions", timeout=5)
                if response.status != 200:
                    self.failed.append(f"status {response.status}")
            except OSError as exc:
                self.failed.append(repr(exc))
            self.sent += 1
            time.sleep(0.005)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def connected_replica(replicas: Replicas) -> tuple[ServeProcess, ServeProcess]:
    """(the replica Envoy is connected to, the other one)."""

    def connected() -> tuple[ServeProcess, ServeProcess] | None:
        if replicas.a.status()["proxies"]:
            return replicas.a, replicas.b
        if replicas.b.status()["proxies"]:
            return replicas.b, replicas.a
        return None

    result: tuple[ServeProcess, ServeProcess] = wait_for(connected, 10, message="Envoy connected")
    return result


def test_an_envoy_moved_to_the_other_replica_keeps_serving_and_gets_nothing_again(
    replicas: Replicas, tmp_path: Path
) -> None:
    envoy = envoy_between(replicas, tmp_path)
    try:
        envoy.wait_listening(replicas.listen, timeout=10)
        first, second = connected_replica(replicas)
        wait_for(
            lambda: first.status()["proxies"][0]["in_sync"], 10, message="in sync with the first replica"
        )
        updates_before = envoy.stat("cluster_manager.cds.update_success")
        lds_before = envoy.stat("listener_manager.lds.update_success")
        traffic = Traffic(replicas.listen)
        wait_for(lambda: traffic.sent >= 20, 10, message="traffic flowing")

        first.stop()
        wait_for(lambda: second.status()["proxies"], 30, message="Envoy reconnected to the other replica")
        wait_for(lambda: second.status()["proxies"][0]["in_sync"], 10, message="in sync with the second")
        sent_at_move = traffic.sent
        wait_for(lambda: traffic.sent >= sent_at_move + 20, 10, message="traffic after the move")

        assert second.metric("gitxds_xds_bytes_sent_total") == 0  # it already had every resource
        assert envoy.stat("cluster_manager.cds.update_success") == updates_before
        assert envoy.stat("listener_manager.lds.update_success") == lds_before

        replicas.write(w1=0, w2=100)  # the second replica keeps the proxy up to date from here
        wait_for(lambda: get(replicas.listen, "/").upstream == "chat-v2", 10, message="new split served")
        # Envoy can apply the push before the server's write returns and counts it.
        wait_for(lambda: second.metric("gitxds_xds_pushes_total", type="routes") >= 1, 5)
        assert second.metric("gitxds_xds_bytes_sent_total") > 0  # the metric above counts real sends
        traffic.stop()
        assert traffic.failed == [], traffic.failed[:5]
        print(f"\n{traffic.sent} requests during the move, none failed")
    finally:
        envoy.stop()
