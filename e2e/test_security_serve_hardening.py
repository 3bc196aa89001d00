"""`gitxds serve` under hostile admin requests and unsafe flags.

A blank token file refuses to start; bytes that are not text in `Authorization` get 401 (not 500);
without a token, a `Host` naming another site gets 421 (DNS rebinding); 100 concurrent `POST /sync`
share one fetch and one build and all get its result; a non-loopback address without mutual TLS
(xDS) or a token (admin) needs `--insecure`, which logs a warning.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness import free_port, wait_for
from harness.configs import backend_doc, gateway_doc, route_doc, write_config
from harness.serve import GitRepo, ServeProcess

CALLERS = 100


def _documents() -> list[dict[str, object]]:
    return [
        gateway_doc("edge", free_port()),
        backend_doc("api", [free_port()]),
        route_doc("chat", [{"backends": [{"name": "api"}]}]),
    ]


def _serve_exit(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    config = write_config(tmp_path / "config", _documents()).parent
    addresses = ("--xds-address", f"127.0.0.1:{free_port()}", "--admin-address", f"127.0.0.1:{free_port()}")
    command = [sys.executable, "-m", "gitxds", "serve", str(config), *addresses, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False, env=env)


@pytest.mark.parametrize("content", ["", "\n", "  \t\n\n"], ids=["empty", "newline", "whitespace"])
def test_a_blank_token_file_refuses_to_start(tmp_path: Path, content: str):
    token_file = tmp_path / "token"
    token_file.write_text(content)
    done = _serve_exit(tmp_path, "--admin-token-file", str(token_file))
    assert done.returncode == 2
    assert "is empty: it would turn admin authentication off" in done.stderr
    assert "Traceback" not in done.stderr


def test_non_loopback_addresses_need_protection_or_insecure(tmp_path: Path):
    done = _serve_exit(tmp_path, "--xds-address", f"0.0.0.0:{free_port()}")
    assert done.returncode == 2 and "without mutual TLS" in done.stderr and "--insecure" in done.stderr
    done = _serve_exit(tmp_path, "--admin-address", f"0.0.0.0:{free_port()}")
    assert (
        done.returncode == 2
        and "admin endpoint on 0.0.0.0" in done.stderr
        and "without a token" in done.stderr
    )


def test_insecure_serves_and_warns(tmp_path: Path):
    config = write_config(tmp_path / "config", _documents()).parent
    serve = ServeProcess(config, tmp_path, "--xds-address", f"0.0.0.0:{free_port()}", "--insecure")
    try:
        wait_for(lambda: "WARNING gitxds: --insecure: xDS on 0.0.0.0" in serve.log_tail(), timeout=10)
    finally:
        serve.stop()


@pytest.fixture(scope="module")
def open_admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    tmp = tmp_path_factory.mktemp("hardening")
    repo = GitRepo(tmp / "repo")
    write_config(repo.path, _documents())
    repo.commit("first")
    serve = ServeProcess(
        None, tmp, "--git-url", str(repo.path), "--checkout-dir", str(tmp / "checkout"),
        "--poll", "1h", "--admin-allowed-host", "gitxds.internal", "--no-envoy-validate",
    )  # fmt: skip
    wait_for(lambda: serve.get("/readyz")[0] == 200, timeout=20, message="first config served")
    yield serve
    serve.stop()


def _raw_request(port: int, head: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(head + b"\r\n\r\n")
        status_line = conn.makefile("rb").readline()
    return int(status_line.split()[1])


def test_authorization_bytes_that_are_not_text_get_401(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GITXDS_ADMIN_TOKEN", "s3cret-token")
    serve = ServeProcess(write_config(tmp_path / "config", _documents()).parent, tmp_path)
    try:
        for value in (b"Bearer \xff\xfe\x80", b"\xc3\x28", b"Bearer s3cret-token\xff"):
            head = b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " + value
            assert _raw_request(serve.admin_port, head) == 401
        assert "Traceback" not in serve.log_tail(200)
    finally:
        serve.stop()


@pytest.mark.parametrize(
    ("host", "status"),
    [("127.0.0.1:{port}", 200), ("localhost", 200), ("[::1]:{port}", 200), ("gitxds.internal:{port}", 200),
     ("attacker.example:{port}", 421), ("127.0.0.1.attacker.example", 421)],
)  # fmt: skip
def test_without_a_token_only_hosts_naming_this_server_are_answered(open_admin, host, status):
    head = f"GET /status HTTP/1.1\r\nHost: {host.format(port=open_admin.admin_port)}".encode()
    assert _raw_request(open_admin.admin_port, head) == status
    probe = b"GET /healthz HTTP/1.1\r\nHost: attacker.example"
    assert _raw_request(open_admin.admin_port, probe) == 200  # probes come from kubelets by pod IP


def _post_together(port: int, barrier: threading.Barrier) -> tuple[int, str]:
    """Connect first, then POST /sync when every caller is connected: the requests arrive together."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.connect()
    barrier.wait(timeout=30)
    conn.request("POST", "/sync")
    response = conn.getresponse()
    answer = response.status, response.read().decode()
    conn.close()
    return answer


def test_concurrent_syncs_share_one_fetch_and_one_build(open_admin):
    builds_before = open_admin.metric("gitxds_config_reloads_total")
    fetches_before = open_admin.metric("gitxds_git_fetches_total")
    barrier = threading.Barrier(CALLERS)
    with ThreadPoolExecutor(CALLERS) as pool:
        answers = list(pool.map(lambda _: _post_together(open_admin.admin_port, barrier), range(CALLERS)))
    builds = open_admin.metric("gitxds_config_reloads_total") - builds_before
    fetches = open_admin.metric("gitxds_git_fetches_total") - fetches_before
    print(f"\n{CALLERS} concurrent POST /sync: {fetches:.0f} fetch(es), {builds:.0f} build(s)")
    assert all(code == 200 for code, _ in answers)
    results = [json.loads(body) for _, body in answers]
    assert {r["result"] for r in results} == {"served"} and all(r["version"] for r in results)
    # A caller arriving while a run is going waits for the next one (its fetch starts after it asked):
    # a burst costs the run going plus at most one more.
    assert 1 <= builds == fetches <= 2
