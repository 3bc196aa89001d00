"""The gitxds xDS server against a real Envoy, SotW and delta: Envoy gets its config, serves a real
upstream, follows a change, keeps serving through a control-plane restart with zero failed requests,
and on reconnecting is sent nothing it already has."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from harness import HttpClient, free_port, wait_for
from harness.configs import backend_doc, gateway_doc, route_doc
from harness.xds import ControlPlane, XdsGateway


class RestartableControlPlane(ControlPlane):
    """The real xDS server on a fixed port, which can be stopped and started again from scratch
    (new cache, new server, new metrics) with the last published config, like a redeployed replica."""

    def __init__(self, port: int) -> None:
        self.fixed_port = port
        self.published: dict[str, dict[str, list[Any]]] = {}
        self.registry = CollectorRegistry()
        super().__init__()

    async def _start(self) -> int:
        from gitxds.metrics import Metrics
        from gitxds.xds.cache import Snapshot, SnapshotCache
        from gitxds.xds.server import XdsServer

        self.registry = CollectorRegistry()
        self.cache = SnapshotCache()
        for group, resources in self.published.items():
            self.cache.set_snapshot(group, Snapshot.build(resources))
        self.server = XdsServer(self.cache, metrics=Metrics(self.registry))
        return int(await self.server.start(f"127.0.0.1:{self.fixed_port}"))

    def publish(self, group: str, resources: dict[str, list[Any]]) -> str:
        self.published[group] = resources
        return super().publish(group, resources)

    def restart(self, down_seconds: float) -> None:
        self._call(self.server.stop(0))
        time.sleep(down_seconds)
        self.port = self._call(self._start())

    def pushes(self) -> float:
        return sum(
            sample.value
            for metric in self.registry.collect()
            if metric.name == "gitxds_xds_pushes"
            for sample in metric.samples
            if sample.name.endswith("_total")
        )


class Load:
    """Requests on one keep-alive connection, back to back, in a thread; records every status."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.statuses: list[int] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        with HttpClient(self.port) as client:
            while not self._stop.is_set():
                try:
                    self.statuses.append(client.request("/chat").status)
                except OSError as error:
                    self.errors.append(repr(error))
                time.sleep(0.005)


def _config(gateway: XdsGateway, listen: int, target: str, ports: dict[str, int]) -> list[dict[str, Any]]:
    return [
        gateway_doc("edge", listen, cluster=gateway.node_cluster),
        *(backend_doc(name, [port]) for name, port in ports.items()),
        route_doc("chat", [{"matches": [{"path": {"prefix": "/"}}], "backends": [{"name": target}]}]),
    ]


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
def test_envoy_follows_changes_and_survives_a_control_plane_restart(
    tmp_path: Path, upstreams: Any, delta: bool
) -> None:
    ports = {"model-a": upstreams("model-a").port, "model-b": upstreams("model-b").port}
    listen = free_port()
    control_plane = RestartableControlPlane(free_port())
    gateway = XdsGateway(control_plane, tmp_path, delta=delta)
    try:
        gateway.apply(_config(gateway, listen, "model-a", ports))
        with HttpClient(listen) as client:
            assert client.request("/chat").upstream == "model-a"

        gateway.apply(_config(gateway, listen, "model-b", ports))
        with HttpClient(listen) as client:
            wait_for(
                lambda: client.request("/chat").upstream == "model-b", message="Envoy follows the change"
            )

        with Load(listen) as load:
            time.sleep(0.3)
            control_plane.restart(down_seconds=1.0)
            wait_for(lambda: control_plane.in_sync(gateway.node_id), timeout=15, message="Envoy reconnects")
            time.sleep(0.3)
        assert load.errors == []
        assert len(load.statuses) > 20 and set(load.statuses) == {200}
        # Envoy reconnected holding exactly the current config: the new server sent it nothing.
        assert control_plane.pushes() == 0
        [status] = [s for s in control_plane.proxies() if s.node_id == gateway.node_id]
        assert status.variant.value == ("delta" if delta else "sotw")

        gateway.apply(_config(gateway, listen, "model-a", ports))
        assert control_plane.pushes() > 0
        with HttpClient(listen) as client:
            wait_for(lambda: client.request("/chat").upstream == "model-a", message="change after restart")
    finally:
        gateway.stop()
        control_plane.stop()
