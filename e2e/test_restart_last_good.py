"""A replica restarted while the branch head is invalid serves the last good commit from Git history.

`gitxds serve` follows a Git work tree with a real Envoy behind it. The head moves to a commit gitxds
refuses; the replica restarts: it serves the newest good commit of the history, says so in /status,
is ready, and a new Envoy gets its listener from it and answers through it. A later good commit is
served normally and the note goes away.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from harness import EnvoyProcess, UpstreamServer, free_port, get, wait_for
from harness.configs import backend_doc, gateway_doc, route_doc, to_yaml
from harness.serve import GitRepo, ServeProcess


def _route(backend: str) -> str:
    return to_yaml([route_doc("chat", [{"backends": [{"name": backend}]}], gateways=["edge"])])


def _envoy(serve: ServeProcess, cluster: str, tmp: Path) -> EnvoyProcess:
    bootstrap: dict[str, Any] = YAML(typ="safe").load(serve.bootstrap("edge-restart", cluster))
    return EnvoyProcess(bootstrap, tmp)  # started by ``with``


def test_a_restart_on_an_invalid_head_serves_the_last_good_commit(tmp_path: Path):
    with UpstreamServer("api") as api, UpstreamServer("next") as after:
        port = free_port()
        cluster = f"edge-{port}"
        repo = GitRepo(tmp_path / "repo")
        repo.write("gateway.yaml", to_yaml([gateway_doc("edge", port, cluster=cluster)]))
        repo.write(
            "backends.yaml", to_yaml([backend_doc("api", [api.port]), backend_doc("next", [after.port])])
        )
        repo.write("route.yaml", _route("api"))
        good = repo.commit("good")
        first = ServeProcess(repo.path, tmp_path)
        wait_for(lambda: first.get("/readyz")[0] == 200, timeout=20, message="the good commit served")
        repo.write("route.yaml", _route("missing-backend"))
        bad = repo.commit("names a backend that does not exist")
        wait_for(lambda: first.status()["config"]["last_rejected"], timeout=20, message="bad head refused")
        first.stop()

        restarted = ServeProcess(repo.path, tmp_path)
        try:
            assert restarted.get("/readyz")[0] == 200  # the admin answers once the start reload is done
            config = restarted.status()["config"]
            assert config["served"]["version"] == good
            assert config["restored_from_history"]["version"] == good
            assert config["restored_from_history"]["head"] == bad
            assert config["last_rejected"]["version"] == bad
            with _envoy(restarted, cluster, tmp_path) as envoy:
                envoy.wait_listening(port, timeout=15)
                assert get(port, "/").upstream == "api"
                repo.write("route.yaml", _route("next"))
                fixed = repo.commit("fixed")
                wait_for(lambda: restarted.status()["config"]["served"]["version"] == fixed, timeout=20)
                assert restarted.status()["config"]["restored_from_history"] is None
                wait_for(
                    lambda: get(port, "/").upstream == "next", timeout=10, message="the fix reaches Envoy"
                )
        finally:
            restarted.stop()
