"""Shared e2e fixtures: real Envoy processes, real upstream servers, config directories.

Every test in e2e/ is marked ``e2e``. A missing Envoy binary fails the session loudly (no skips).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import EnvoyProcess, UpstreamServer, envoy_binary
from harness.gateway import StaticGateway
from harness.xds import ControlPlane, XdsGateway


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    e2e_root = Path(__file__).parent
    for item in items:
        if e2e_root in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def envoy_path() -> Path:
    """The virtualenv's Envoy; raises (never skips) when it is missing."""
    return envoy_binary()


UpstreamFactory = Callable[..., UpstreamServer]
EnvoyFactory = Callable[..., EnvoyProcess]


def _upstream_factory(started: list[UpstreamServer]) -> UpstreamFactory:
    def make(name: str, **behaviour: Any) -> UpstreamServer:
        server = UpstreamServer(name, **behaviour).start()
        started.append(server)
        return server

    return make


def _envoy_factory(started: list[EnvoyProcess], workdir: Path, envoy_path: Path) -> EnvoyFactory:
    def make(bootstrap: Any, **kwargs: Any) -> EnvoyProcess:
        envoy = EnvoyProcess(bootstrap, workdir, **kwargs)
        started.append(envoy)
        return envoy.start()

    return make


@pytest.fixture
def upstreams() -> Iterator[UpstreamFactory]:
    """``upstreams("name", **behaviour)`` starts an UpstreamServer, stopped after the test."""
    started: list[UpstreamServer] = []
    yield _upstream_factory(started)
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def module_upstreams() -> Iterator[UpstreamFactory]:
    """Module-scoped ``upstreams``."""
    started: list[UpstreamServer] = []
    yield _upstream_factory(started)
    for server in started:
        server.stop()


@pytest.fixture
def envoy_factory(tmp_path: Path, envoy_path: Path) -> Iterator[EnvoyFactory]:
    """``envoy_factory(bootstrap, **kwargs)`` starts an EnvoyProcess (ready), stopped after the test."""
    started: list[EnvoyProcess] = []
    yield _envoy_factory(started, tmp_path, envoy_path)
    for envoy in started:
        envoy.stop()


@pytest.fixture(scope="module")
def module_envoy_factory(
    tmp_path_factory: pytest.TempPathFactory, envoy_path: Path
) -> Iterator[EnvoyFactory]:
    """Module-scoped ``envoy_factory``."""
    started: list[EnvoyProcess] = []
    yield _envoy_factory(started, tmp_path_factory.mktemp("envoy"), envoy_path)
    for envoy in started:
        envoy.stop()


GatewayFactory = Callable[..., Any]


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    """The real gitxds xDS server (one per test worker), on a port chosen at run time."""
    plane = ControlPlane()
    yield plane
    plane.stop()


def _gateway_factory(
    started: list[Any], workdir_for: Callable[[], Path], control_plane: ControlPlane | None
) -> GatewayFactory:
    def make(documents: Any, *, gateway: str = "edge", **kwargs: Any) -> Any:
        if control_plane is None:
            running: Any = StaticGateway(workdir_for(), gateway, **kwargs)
        else:
            running = XdsGateway(control_plane, workdir_for(), gateway, **kwargs)
        started.append(running)
        return running.apply(documents)

    return make


@pytest.fixture
def gateway_factory(
    tmp_path_factory: pytest.TempPathFactory, envoy_path: Path, control_plane: ControlPlane
) -> Iterator[GatewayFactory]:
    """``gateway_factory(documents)``: compile the documents with gitxds, serve them through the
    xDS server to a new Envoy (an XdsGateway: ``.port``, ``.envoy``, ``.apply(documents)``)."""
    started: list[Any] = []
    yield _gateway_factory(started, lambda: tmp_path_factory.mktemp("gateway"), control_plane)
    for running in started:
        running.stop()


@pytest.fixture(scope="module")
def module_gateway_factory(
    tmp_path_factory: pytest.TempPathFactory, envoy_path: Path, control_plane: ControlPlane
) -> Iterator[GatewayFactory]:
    """Module-scoped ``gateway_factory``."""
    started: list[Any] = []
    yield _gateway_factory(started, lambda: tmp_path_factory.mktemp("gateway"), control_plane)
    for running in started:
        running.stop()


@pytest.fixture
def static_gateway_factory(
    tmp_path_factory: pytest.TempPathFactory, envoy_path: Path
) -> Iterator[GatewayFactory]:
    """Like ``gateway_factory`` but with the resources inlined in a static bootstrap
    (a StaticGateway: every ``apply`` restarts Envoy)."""
    started: list[Any] = []
    yield _gateway_factory(started, lambda: tmp_path_factory.mktemp("gateway"), None)
    for running in started:
        running.stop()
