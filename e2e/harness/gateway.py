"""A gitxds-configured Envoy: config documents in, a listening Envoy out.

``StaticGateway`` compiles the config directory, renders ``static_bootstrap`` and (re)starts Envoy on
every ``apply``. ``XdsGateway`` (in ``harness.xds``) serves the same config through the real gitxds
xDS server, so ``apply`` changes a running Envoy. Both expose ``port`` (the gateway's first
listener), ``envoy`` (the EnvoyProcess), ``config_dir`` and ``apply(documents)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.configs import compile_config, write_config
from harness.envoy import EnvoyProcess


class StaticGateway:
    """One Envoy with static resources rendered by gitxds; ``apply`` restarts it."""

    def __init__(self, workdir: Path, gateway: str = "edge", *, log_level: str = "warning") -> None:
        self.workdir = workdir
        self.config_dir = workdir / "config"
        self.gateway = gateway
        self.log_level = log_level
        self.envoy: EnvoyProcess | None = None
        self.port = 0
        self.model: Any = None

    def apply(self, documents: str | Iterable[dict[str, Any]] | None = None) -> StaticGateway:
        """Write ``documents`` (when given) as the whole config, compile, and restart Envoy on it."""
        from gitxds.translators.xds import static_bootstrap

        if documents is not None:
            write_config(self.config_dir, documents)
        self.model = compile_config(self.config_dir)
        bootstrap = static_bootstrap(self.model, self.gateway, admin_port=0)
        self.stop()
        self.envoy = EnvoyProcess(bootstrap, self.workdir, log_level=self.log_level).start()
        ports = [listener.port for listener in self.model.gateway(self.gateway).listeners]
        for port in ports:
            self.envoy.wait_listening(port)
        self.port = ports[0]
        return self

    def stop(self) -> None:
        if self.envoy is not None:
            self.envoy.stop()
            self.envoy = None

    def __enter__(self) -> StaticGateway:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
