"""A running ``gitxds serve`` survives any error on one reload: a failure injected into a build step
is logged, counted, shown in /status, readiness holds, and the next change is served."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import gitxds.gitops.inputs as inputs_module
from gitxds.cli import main as cli_main
from gitxds.gitops.service import GitxdsService
from waiting import eventually

from .helpers import options, route, routed_cluster, run_service, write_config


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


class Breaker:
    """Makes the translator step raise while ``armed``; counts the failures it caused."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.armed = False
        self.raised = 0
        original: Callable[..., Any] = inputs_module.translate_incrementally

        def translate(*args: Any, **kwargs: Any) -> Any:
            if self.armed:
                self.raised += 1
                raise RuntimeError("injected: a bug in a build step")
            return original(*args, **kwargs)

        monkeypatch.setattr(inputs_module, "translate_incrementally", translate)


def failures(service: GitxdsService) -> int:
    return service.reconciler.status.failures


def test_a_failing_build_step_is_reported_and_the_next_change_is_served(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path / "config")
    breaker = Breaker(monkeypatch)

    async def body(service: GitxdsService) -> None:
        port = service.admin_port
        assert routed_cluster(service) == "blue"
        breaker.armed = True
        (config / "route.yaml").write_text(route("green"))
        await eventually(lambda: failures(service) >= 1, message="the injected failure is recorded")
        breaker.armed = False

        _, text = await asyncio.to_thread(_get, port, "/status")
        failure = json.loads(text)["config"]["last_failure"]
        assert failure["step"] == "build" and failure["reason"] == "internal_error"
        assert "injected" in failure["message"]
        _, metrics = await asyncio.to_thread(_get, port, "/metrics")
        assert 'gitxds_reload_failures_total{reason="internal_error"} 1.0' in metrics
        status, _ = await asyncio.to_thread(_get, port, "/readyz")
        assert status == 200  # something was served: still ready
        assert routed_cluster(service) == "blue"  # the last good config keeps serving
        admin = ["status", "--admin", f"http://127.0.0.1:{port}"]
        assert await asyncio.to_thread(cli_main, admin) == 1
        assert "FAILED:     reload (files changed)" in capsys.readouterr().out

        (config / "route.yaml").write_text(route("green") + "# touched\n")
        await eventually(lambda: routed_cluster(service) == "green", message="the next change is served")
        assert failures(service) == breaker.raised
        assert await asyncio.to_thread(cli_main, admin) == 0

    run_service(options(config), body)
    assert any("failed while build" in r.getMessage() for r in caplog.records)


def test_not_ready_while_the_only_reloads_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path / "config")
    breaker = Breaker(monkeypatch)
    breaker.armed = True

    async def body(service: GitxdsService) -> None:
        port = service.admin_port
        assert failures(service) == 1  # the start reload failed, the service still started
        status, text = await asyncio.to_thread(_get, port, "/readyz")
        assert status == 503, text
        breaker.armed = False
        (config / "route.yaml").write_text(route("green"))
        await eventually(service.ready, message="ready once a config is served")
        assert routed_cluster(service) == "green"

    run_service(options(config), body)
