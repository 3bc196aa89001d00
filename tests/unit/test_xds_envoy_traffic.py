"""What the translator promises, checked with real requests through a real Envoy.

One Envoy runs the static bootstrap of a small config: two upstream servers, a fallback, tiered
local rate limits and backend request headers (one from the secret store).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from google.protobuf.json_format import MessageToJson

from gitxds.compile import compile_directory
from gitxds.translators.xds import static_bootstrap

pytestmark = pytest.mark.e2e

CONFIG = """\
apiVersion: gitxds.dev/v1alpha1
kind: Gateway
metadata: {{name: edge}}
spec:
  proxies: {{cluster: edge}}
  listeners: [{{name: http, port: {listener}, address: 127.0.0.1}}]
---
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {{name: primary}}
spec:
  endpoints: [{{address: 127.0.0.1, port: {primary}}}]
  requestHeaders: {{set: {{x-primary: "yes"}}, remove: [x-drop]}}
---
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {{name: provider}}
spec:
  endpoints: [{{address: 127.0.0.1, port: {provider}}}]
  requestHeaders: {{set: {{authorization: {{secretRef: provider-key}}}}}}
---
apiVersion: gitxds.dev/v1alpha1
kind: RateLimitPolicy
metadata: {{name: tiered}}
spec:
  key: {{header: x-api-key}}
  tier: {{header: x-tier, default: free}}
  limits: {{free: 2/minute, pro: 4/minute}}
---
apiVersion: gitxds.dev/v1alpha1
kind: Route
metadata: {{name: api}}
spec:
  gateways: [edge]
  rules:
    - matches: [{{path: {{prefix: /limited}}}}]
      backends: [{{name: primary}}]
      rateLimit: tiered
    - matches: [{{path: {{prefix: /provider}}}}]
      backends: [{{name: provider}}]
    - backends: [{{name: primary}}]
      fallback: [provider]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def upstream(name: str) -> ThreadingHTTPServer:
    """Answers every GET with its own name and the request headers gitxds may rewrite."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen = {h: self.headers.get(h) for h in ("authorization", "x-primary", "x-drop")}
            body = json.dumps({"server": name, **seen}).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@dataclass
class Reply:
    status: int
    backend: str | None
    body: dict[str, str | None]


@dataclass
class Gateway:
    port: int
    primary: ThreadingHTTPServer

    def get(self, path: str, **headers: str) -> Reply:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return Reply(response.status, response.headers.get("x-gitxds-backend"), json.load(response))
        except urllib.error.HTTPError as error:
            with error:
                return Reply(error.code, error.headers.get("x-gitxds-backend"), {})


def envoy_binary() -> str:
    beside = Path(sys.executable).parent / "envoy"
    found = str(beside) if beside.is_file() else shutil.which("envoy")
    assert found is not None, "no envoy binary beside the Python interpreter or on PATH: run `make venv`"
    return found


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    primary, provider = upstream("primary"), upstream("provider")
    port = free_port()
    config = tmp_path / "config"
    config.mkdir()
    (config / "config.yaml").write_text(
        CONFIG.format(listener=port, primary=primary.server_port, provider=provider.server_port)
    )
    result = compile_directory(config)
    assert not result.diagnostics, [str(d) for d in result.diagnostics]
    bootstrap = static_bootstrap(
        result.model, "edge", {"provider-key": "Bearer provider-secret"}, admin_port=0
    )
    (tmp_path / "envoy.json").write_text(MessageToJson(bootstrap))
    command = [envoy_binary(), "-c", str(tmp_path / "envoy.json"), "--disable-hot-restart"]
    envoy = subprocess.Popen([*command, "--concurrency", "1", "--log-level", "error"])
    try:
        the_gateway = Gateway(port, primary)
        deadline = time.monotonic() + 20
        while True:
            try:
                the_gateway.get("/")
                break
            except OSError:
                assert time.monotonic() < deadline, "Envoy did not start listening"
                time.sleep(0.1)
        yield the_gateway
    finally:
        envoy.terminate()
        envoy.wait(timeout=10)
        for server in (primary, provider):
            server.shutdown()
            server.server_close()


def test_every_key_has_its_own_bucket_sized_by_its_tier(gateway: Gateway) -> None:
    def statuses(count: int, **headers: str) -> list[int]:
        return [gateway.get("/limited", **headers).status for _ in range(count)]

    assert statuses(3, **{"x-api-key": "alice"}) == [200, 200, 429]
    assert statuses(3, **{"x-api-key": "bob"}) == [200, 200, 429]  # alice's use does not count
    assert statuses(5, **{"x-api-key": "carol", "x-tier": "pro"}) == [200] * 4 + [429]
    assert statuses(3, **{"x-api-key": "dave", "x-tier": "gold"}) == [200, 200, 429]  # unknown: free
    assert gateway.get("/", **{"x-api-key": "alice"}).status == 200  # other rules are not limited


def test_backend_request_headers_apply_and_secrets_come_from_the_store(gateway: Gateway) -> None:
    direct = gateway.get("/provider", authorization="from-client")
    assert direct.body["authorization"] == "Bearer provider-secret"
    primary = gateway.get("/", **{"x-drop": "1"})
    assert (primary.backend, primary.body["x-primary"], primary.body["x-drop"]) == ("primary", "yes", None)


def test_fallback_takes_over_and_the_response_names_the_backend_that_answered(gateway: Gateway) -> None:
    assert gateway.get("/").backend == "primary"
    gateway.primary.shutdown()
    gateway.primary.server_close()
    reply = gateway.get("/")
    assert (reply.status, reply.backend) == (200, "provider")
    assert reply.body["authorization"] == "Bearer provider-secret"  # the fallback's own credentials
    assert reply.body["x-primary"] is None  # the primary's headers never reach the fallback
