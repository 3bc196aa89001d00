"""Pods of Kubernetes Services for e2e tests and benchmarks: real HTTP servers behind the FAKE API
server (tests/fakes/kube_api.py; no real API server can run here).

``PodCluster()``: the fake API server (``.api``, ``.kubeconfig(path)``) and one shared pod port
(``.pod_port``). ``add_service(namespace, service, pods)`` starts a real HTTP server per pod on its
own 127.0.0.0/8 address (all on ``pod_port``, as pods share a container port), registers each pod
with its labels and one EndpointSlice naming them through ``targetRef``. Each pod answers
``x-upstream: <pod name>``. ``relabel(namespace, pod, labels)`` changes a pod's labels (returns the
event's resourceVersion); ``stop()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from fakes.kube_api import FakeKubeApi, endpoint, endpoint_slice, pod
from harness.ports import free_port
from harness.upstream import UpstreamServer

__all__ = ["PodCluster"]


class PodCluster:
    def __init__(self) -> None:
        self.api = FakeKubeApi().start()
        self.pod_port = free_port()
        self.pods: dict[str, UpstreamServer] = {}
        self._next_host = 2  # 127.0.0.2, 127.0.0.3, ...

    def kubeconfig(self, path: Path) -> Path:
        return self.api.write_kubeconfig(path)

    def add_service(self, namespace: str, service: str, pods: Mapping[str, Mapping[str, str]]) -> None:
        """Service ``namespace/service`` with ``pods`` (name -> labels), every one ready."""
        endpoints = []
        for name, labels in pods.items():
            address = f"127.0.0.{self._next_host}"
            self._next_host += 1
            self.pods[name] = UpstreamServer(name, self.pod_port, address=address).start()
            self.api.apply(namespace, pod(name, address, dict(labels)))
            endpoints.append(endpoint(address, pod=name))
        ports = [("http", self.pod_port)]
        self.api.apply(namespace, endpoint_slice(f"{service}-abc12", service, endpoints, ports=ports))

    def address(self, pod_name: str) -> str:
        return self.pods[pod_name].address

    def relabel(self, namespace: str, pod_name: str, labels: Mapping[str, str]) -> int:
        return self.api.relabel(namespace, pod_name, dict(labels))

    def stop(self) -> None:
        self.api.stop()
        for server in self.pods.values():
            server.stop()
