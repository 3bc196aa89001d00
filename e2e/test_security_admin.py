"""The admin endpoint of `gitxds serve`: loopback by default, and a bearer token when configured.

With `--admin-token-file` (or $GITXDS_ADMIN_TOKEN) every path answers 401 without the right
`Authorization: Bearer` header, except the probes /healthz and /readyz, which stay open for kubelets.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitxds.cli import build_parser
from harness import free_port
from harness.configs import backend_doc, gateway_doc, route_doc, write_config
from harness.serve import ServeProcess

TOKEN = "admin-token-5c1e9b"
GUARDED = ("/status", "/metrics", "/config_dump?gateway=edge")


def _config(directory: Path) -> Path:
    write_config(
        directory,
        [
            gateway_doc("edge", free_port()),
            backend_doc("api", [free_port()]),
            route_doc("chat", [{"backends": [{"name": "api"}]}]),
        ],
    )
    return directory


def _request(serve: ServeProcess, path: str, token: str | None, method: str = "GET") -> int:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    url = f"http://127.0.0.1:{serve.admin_port}{path}"
    request = urllib.request.Request(url, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    tmp = tmp_path_factory.mktemp("admin")
    token_file = tmp / "admin-token"
    token_file.write_text(TOKEN + "\n")
    serve = ServeProcess(_config(tmp / "config"), tmp, "--admin-token-file", str(token_file))
    yield serve
    serve.stop()


@pytest.mark.parametrize("path", GUARDED)
def test_without_the_token_every_admin_path_is_401(guarded, path):
    assert _request(guarded, path, None) == 401
    assert _request(guarded, path, "wrong-token") == 401
    assert _request(guarded, path, TOKEN) == 200


def test_sync_needs_the_token(guarded):
    assert _request(guarded, "/sync", None, method="POST") == 401
    assert _request(guarded, "/sync", TOKEN, method="POST") == 200


def test_probes_stay_open(guarded):
    assert _request(guarded, "/healthz", None) == 200
    assert _request(guarded, "/readyz", None) == 200


def test_the_token_never_appears_in_the_log(guarded):
    _request(guarded, "/status", "wrong-token")
    assert TOKEN not in guarded.log_tail(500)


def test_the_token_can_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GITXDS_ADMIN_TOKEN", TOKEN)
    serve = ServeProcess(_config(tmp_path / "config"), tmp_path)
    try:
        assert _request(serve, "/status", None) == 401
        assert _request(serve, "/status", TOKEN) == 200
    finally:
        serve.stop()


def test_the_admin_endpoint_binds_to_loopback_by_default(tmp_path: Path):
    args = build_parser().parse_args(["serve", str(tmp_path)])
    assert args.admin_address.startswith("127.0.0.1:")
    assert args.xds_address.startswith("127.0.0.1:")
