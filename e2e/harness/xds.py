"""The real gitxds xDS server in a background thread, and Envoys configured through it.

``ControlPlane()`` runs ``XdsServer`` on its own asyncio loop in a daemon thread (the test thread
stays synchronous) and listens on 127.0.0.1 at a port the kernel picks (``.port``).
``publish(group, resources)`` builds a Snapshot and sets it for ``group`` (the Envoy node cluster);
``in_sync(node_id)`` tells whether that proxy has ACKed everything it was sent.

``XdsGateway(control_plane, workdir)`` behaves like ``StaticGateway`` but starts Envoy once, with a
dynamic (ADS) bootstrap, and every ``apply`` pushes the new config over xDS without a restart;
``apply`` returns when Envoy has ACKed every resource type. The access logs every Envoy streams back
over gRPC land in ``ControlPlane.signals`` (a real ``SignalStore``).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from collections.abc import Coroutine, Iterable
from pathlib import Path
from typing import Any, TypeVar

from harness.configs import compile_config, write_config
from harness.envoy import EnvoyProcess
from harness.waiting import GiveUpError

T = TypeVar("T")
_group_counter = itertools.count(1)


class ControlPlane:
    """An in-process gitxds xDS server (SotW and delta, ADS) for real Envoys to connect to."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="xds-loop", daemon=True)
        self._thread.start()
        self.cache: Any = None
        self.server: Any = None
        self.signals: Any = None
        self.known_tiers: frozenset[str] = frozenset()
        self.port = self._call(self._start())
        self._labels = itertools.count(1)

    async def _start(self) -> int:
        from prometheus_client import CollectorRegistry

        from gitxds.metrics import Metrics
        from gitxds.signals import AccessLogReceiver, SignalStore
        from gitxds.xds.cache import SnapshotCache
        from gitxds.xds.server import XdsServer

        self.cache = SnapshotCache()
        self.server = XdsServer(self.cache, metrics=Metrics(CollectorRegistry()))
        # Access logs every Envoy streams back; tests read them per node (``AccessRecord.node``).
        self.signals = SignalStore()
        self.server.add_servicer(AccessLogReceiver(self.signals, lambda: self.known_tiers).register)
        return int(await self.server.start("127.0.0.1:0"))

    def _call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def publish(self, group: str, resources: dict[str, list[Any]]) -> str:
        """Publish a snapshot of ``resources`` (type URL -> messages) for ``group``; return its version."""
        from gitxds.xds.cache import Snapshot

        label = f"test-{next(self._labels)}"

        async def set_snapshot() -> str:
            snapshot = Snapshot.build(resources, config_version=label, previous=self.cache.get(group))
            self.cache.set_snapshot(group, snapshot)
            return str(snapshot.version)

        return self._call(set_snapshot())

    def proxies(self) -> list[Any]:
        async def statuses() -> list[Any]:
            return list(self.server.proxies())

        return self._call(statuses())

    def in_sync(self, node_id: str) -> bool:
        """The proxy is connected and has ACKed exactly what its group's current snapshot gives it."""
        statuses = [status for status in self.proxies() if status.node_id == node_id]
        return bool(statuses) and all(status.in_sync for status in statuses)

    def nacks(self, node_id: str) -> dict[str, str]:
        """Type URL -> Envoy's error message, for every type the proxy currently rejects."""
        return {
            type_url: type_status.error_message
            for status in self.proxies()
            if status.node_id == node_id
            for type_url, type_status in status.types.items()
            if type_status.nacked_version and not type_status.in_sync
        }

    def stop(self) -> None:
        if not self._loop.is_running():
            return
        self._call(self.server.stop(0))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()


class XdsGateway:
    """One Envoy fed by ``control_plane``; ``apply`` changes its config without a restart."""

    def __init__(
        self,
        control_plane: ControlPlane,
        workdir: Path,
        gateway: str = "edge",
        *,
        delta: bool = False,
        log_level: str = "warning",
    ) -> None:
        self.control_plane = control_plane
        self.workdir = workdir
        self.config_dir = workdir / "config"
        self.gateway = gateway
        self.delta = delta
        self.log_level = log_level
        serial = next(_group_counter)
        self.node_cluster = f"{gateway}-{os.getpid()}-{serial}"  # the snapshot group; unique per gateway
        self.node_id = f"envoy-{self.node_cluster}"
        self.envoy: EnvoyProcess | None = None
        self.port = 0
        self.model: Any = None
        self.version = ""

    def apply(
        self, documents: str | Iterable[dict[str, Any]] | None = None, timeout: float = 10.0
    ) -> XdsGateway:
        """Write ``documents`` (when given) as the whole config, compile, translate and publish; start
        Envoy on first use; return once Envoy has ACKed the new snapshot and its listeners accept."""
        from gitxds.translators.xds import dynamic_bootstrap, translate_gateway

        if documents is not None:
            write_config(self.config_dir, documents)
        self.model = compile_config(self.config_dir)
        resources = translate_gateway(self.model, self.gateway)
        self.version = self.control_plane.publish(self.node_cluster, resources)
        if self.envoy is None:
            bootstrap = dynamic_bootstrap(
                xds_address=self.control_plane.address,
                node_id=self.node_id,
                node_cluster=self.node_cluster,
                admin_port=0,
                delta=self.delta,
            )
            self.envoy = EnvoyProcess(bootstrap, self.workdir, log_level=self.log_level).start()
        self.envoy.wait_for(self._acked, timeout, message=f"Envoy ACK of snapshot {self.version}")
        ports = [listener.port for listener in self.model.gateway(self.gateway).listeners]
        for port in ports:
            self.envoy.wait_listening(port, timeout)
        self.port = ports[0]
        return self

    def _acked(self) -> bool:
        nacks = self.control_plane.nacks(self.node_id)
        if nacks:
            raise GiveUpError(f"Envoy rejected the config: {nacks}")
        return self.control_plane.in_sync(self.node_id)

    def stop(self) -> None:
        if self.envoy is not None:
            self.envoy.stop()
            self.envoy = None

    def __enter__(self) -> XdsGateway:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
