"""The admin endpoint and the commands that read it: readiness, status, config dump, metrics."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path

from gitxds.cli import main as cli_main
from gitxds.gitops.service import GitxdsService
from waiting import eventually

from .helpers import options, route, run_service, write_config


def _get(port: int, path: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_not_ready_until_a_config_is_served_and_the_error_is_in_status(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config")
    (config / "route.yaml").write_text(route("purple"))  # no such backend: nothing can be served

    async def body(service: GitxdsService) -> None:
        status, text = await asyncio.to_thread(_get, service.admin_port, "/readyz")
        assert status == 503, text
        status, text = await asyncio.to_thread(_get, service.admin_port, "/status")
        rejected = json.loads(text)["config"]["last_rejected"]
        assert rejected["diagnostics"][0]["reason"] == "UnknownBackend"
        assert rejected["diagnostics"][0]["text"].startswith("route.yaml:")
        (config / "route.yaml").write_text(route("blue"))
        await eventually(service.ready)
        status, _ = await asyncio.to_thread(_get, service.admin_port, "/readyz")
        assert status == 200

    run_service(options(config), body)


def test_config_dump_names_the_gateways_and_metrics_are_prometheus_text(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config")

    async def body(service: GitxdsService) -> None:
        port = service.admin_port
        status, text = await asyncio.to_thread(_get, port, "/config_dump")
        assert status == 400 and "edge" in text
        status, text = await asyncio.to_thread(_get, port, "/config_dump?gateway=nope")
        assert status == 404
        status, text = await asyncio.to_thread(_get, port, "/config_dump?gateway=edge")
        dump = json.loads(text)
        assert [c["name"] for c in dump["resources"]["clusters"]] == ["blue"]
        status, text = await asyncio.to_thread(_get, port, "/metrics")
        assert status == 200
        assert 'gitxds_config_reloads_total{result="served"} 1.0' in text
        assert "gitxds_snapshot_build_seconds_count 1.0" in text

    run_service(options(config), body)


def test_admin_token_guards_everything_but_the_probes(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config")

    async def body(service: GitxdsService) -> None:
        port = service.admin_port
        assert (await asyncio.to_thread(_get, port, "/status"))[0] == 401
        assert (await asyncio.to_thread(_get, port, "/metrics", "wrong"))[0] == 401
        assert (await asyncio.to_thread(_get, port, "/status", "s3cret"))[0] == 200
        assert (await asyncio.to_thread(_get, port, "/healthz"))[0] == 200
        assert (await asyncio.to_thread(_get, port, "/readyz"))[0] == 200

    run_service(options(config, admin_token="s3cret"), body)


def test_status_command_prints_a_table_and_exit_code_tells_refusals(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    config = write_config(tmp_path / "config")

    async def body(service: GitxdsService) -> tuple[int, int]:
        admin = f"http://127.0.0.1:{service.admin_port}"
        healthy = await asyncio.to_thread(cli_main, ["status", "--admin", admin])
        (config / "route.yaml").write_text(route("purple"))
        await eventually(lambda: (last := service.reconciler.status.last_attempt) and not last.accepted)
        refused = await asyncio.to_thread(cli_main, ["status", "--admin", admin])
        return healthy, refused

    healthy, refused = run_service(options(config), body)
    out = capsys.readouterr().out
    assert healthy == 0 and refused == 1
    assert "serving:" in out and "REFUSED:" in out
    assert 'UnknownBackend: no Backend named "purple"' in out
    assert "(no proxies connected)" in out
