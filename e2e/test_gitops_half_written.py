"""A real ``gitxds serve`` (default quiet time, resident validator on) and a real Envoy, while a writer
changes files in place: truncated, then written after a pause; half written, then finished.

While the writer pauses (until gitxds has looked at the half-done file: its held-back counter moves),
Envoy keeps answering from the old config: no gateway is dropped and no refusal is recorded. An
intentional emptying is still served once the grace period has passed. The grace is 3 s here (250 ms
by default) so that a loaded machine cannot stretch the writer's pause past it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from harness import EnvoyProcess, UpstreamServer, free_port, get, wait_for
from harness.serve import ServeProcess

GATEWAY = """\
apiVersion: gitxds.dev/v1alpha1
kind: Gateway
metadata: {{name: edge}}
spec:
  proxies: {{cluster: {cluster}}}
  listeners: [{{name: http, port: {port}, address: 127.0.0.1}}]
"""
BACKENDS = """\
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {{name: model-a}}
spec: {{endpoints: [{{address: 127.0.0.1, port: {a}}}]}}
---
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {{name: model-b}}
spec: {{endpoints: [{{address: 127.0.0.1, port: {b}}}]}}
"""
ROUTE = """\
apiVersion: gitxds.dev/v1alpha1
kind: Route
metadata: {{name: chat}}
spec:
  gateways: [edge]
  rules: [{{backends: [{{name: {backend}}}]}}]
"""


def test_a_writer_in_the_middle_of_a_write_is_never_served(tmp_path: Path) -> None:
    a, b = UpstreamServer("model-a").start(), UpstreamServer("model-b").start()
    port = free_port()
    cluster = f"edge-{port}"
    config = tmp_path / "config"
    config.mkdir()
    gateway = GATEWAY.format(cluster=cluster, port=port)
    (config / "gateway.yaml").write_text(gateway)
    (config / "backends.yaml").write_text(BACKENDS.format(a=a.port, b=b.port))
    (config / "route.yaml").write_text(ROUTE.format(backend="model-a"))
    serve = ServeProcess(config, tmp_path, "--log-level", "info", "--write-grace", "3s")
    envoy: EnvoyProcess | None = None
    try:
        bootstrap: dict[str, Any] = YAML(typ="safe").load(serve.bootstrap("envoy-1", cluster))
        envoy = EnvoyProcess(bootstrap, tmp_path).start()
        envoy.wait_listening(port, timeout=10)

        def answers() -> str:
            response = get(port, "/v1/chat/completions")
            return response.upstream or f"status:{response.status}"

        def held(reason: str) -> bool:
            return serve.metric("gitxds_config_reads_held_total", reason=reason) >= 1

        wait_for(lambda: answers() == "model-a", 10, message="Envoy answering from model-a")
        with (config / "gateway.yaml").open("w") as writer:  # truncated; the writer pauses
            wait_for(lambda: held("emptied"), 10, message="the empty gateway.yaml held back")
            assert [answers() for _ in range(20)] == ["model-a"] * 20
            writer.write(gateway)

        route = ROUTE.format(backend="model-b")
        with (config / "route.yaml").open("w") as writer:
            writer.write(route[: len(route) // 2])  # a prefix that does not parse
            writer.flush()
            wait_for(lambda: held("refused"), 10, message="the half-written route.yaml held back")
            assert [answers() for _ in range(20)] == ["model-a"] * 20
            writer.write(route[len(route) // 2 :])
        wait_for(lambda: answers() == "model-b", 10, message="Envoy answering from model-b")

        config_status = serve.status()["config"]
        assert config_status["last_rejected"] is None, config_status
        assert serve.metric("gitxds_config_reloads_total", result="rejected") == 0
        assert envoy.stat("listener_manager.listener_removed") == 0  # the gateway was never dropped
        assert "held back" in serve.log_path.read_text()

        (config / "route.yaml").write_text("")  # on purpose: the route goes after the grace
        wait_for(lambda: answers() == "status:404", 10, message="the emptied route served")
        assert serve.metric("gitxds_config_reloads_total", result="rejected") == 0
    finally:
        if envoy is not None:
            envoy.stop()
        serve.stop()
        a.stop()
        b.stop()
