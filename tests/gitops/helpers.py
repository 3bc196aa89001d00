"""An in-process ``gitxds serve`` (no Envoy needed) for tests of the GitOps layer."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from gitxds.gitops.service import GitxdsService, ServeOptions

GATEWAY = """\
apiVersion: gitxds.dev/v1alpha1
kind: Gateway
metadata: {name: edge}
spec:
  proxies: {cluster: edge}
  listeners: [{name: http, port: 10000}]
"""
BACKENDS = """\
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {name: blue}
spec: {endpoints: [{address: 127.0.0.1, port: 8001}]}
---
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {name: green}
spec: {endpoints: [{address: 127.0.0.1, port: 8002}]}
"""

POLICY = """\
apiVersion: gitxds.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: careful}
spec:
  routes: [chat]
  steps: [{weight: 50, pause: 10m}]
  onFailure: revert
"""


def route(target: str) -> str:
    return f"""\
apiVersion: gitxds.dev/v1alpha1
kind: Route
metadata: {{name: chat}}
spec:
  gateways: [edge]
  rules: [{{backends: [{{name: {target}}}]}}]
"""


def write_config(directory: Path, target: str = "blue") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "gateway.yaml").write_text(GATEWAY)
    (directory / "backends.yaml").write_text(BACKENDS)
    (directory / "route.yaml").write_text(route(target))
    return directory


def git(cwd: Path, *args: str) -> str:
    command = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args]
    return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def routed_cluster(service: GitxdsService) -> str:
    """The cluster the chat route sends to in the snapshot being served."""
    dump = service.config_dump("edge")
    assert dump is not None
    route_config = dump["resources"]["routes"][0]
    cluster: str = route_config["virtual_hosts"][0]["routes"][0]["route"]["cluster"]
    return cluster


def run_service(options: ServeOptions, body: Callable[[GitxdsService], Awaitable[Any]]) -> Any:
    """Start a service on free loopback ports, run ``body(service)``, stop it."""

    async def main() -> Any:
        service = GitxdsService(options)
        await service.start()
        try:
            return await body(service)
        finally:
            await service.stop(grace=0)

    return asyncio.run(main())


def options(config_dir: Path, **overrides: Any) -> ServeOptions:
    values: dict[str, Any] = {
        "config_dir": config_dir,
        "xds_address": "127.0.0.1:0",
        "admin_address": "127.0.0.1:0",
        "envoy_validate": False,
        **overrides,
    }
    return ServeOptions(**values)
