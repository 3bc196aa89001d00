"""The admin HTTP endpoint: health, readiness, Prometheus metrics, status, config dump, sync,
rollouts, usage, and the signal summaries peer replicas ask for (``/signals/windows``).

Binds to loopback by default; ``token`` requires ``Authorization: Bearer <token>`` on every path
except the probes (``/healthz``, ``/readyz``), so kubelets need no secret. Without a token, only
requests whose ``Host`` names this server (loopback, the bind address or an allowed name) are answered:
a web page cannot reach the endpoint through a DNS name it controls (DNS rebinding).
"""

from __future__ import annotations

import hmac
import json
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


class AdminBackend(Protocol):
    """What the admin endpoint reads; implemented by the serve loop."""

    registry: CollectorRegistry

    def ready(self) -> bool: ...

    def status(self) -> dict[str, Any]: ...

    def config_dump(self, gateway: str) -> dict[str, Any] | None: ...

    def gateways(self) -> tuple[str, ...]: ...

    def usage(self, window_seconds: int, top: int) -> dict[str, Any]: ...

    def signal_windows(self, backends: tuple[str, ...], start: float, end: float) -> dict[str, Any]: ...

    async def sync(self) -> dict[str, Any]: ...

    def rollouts(self) -> dict[str, Any]: ...

    def rollout_command(self, action: str, rule: str | None) -> dict[str, Any]: ...


_PROBES = frozenset({"/healthz", "/readyz"})
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(data, indent=2, sort_keys=False) + "\n",
        status=status,
        content_type="application/json",
    )


def _bearer_guard(token: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in _PROBES:
            # Header bytes that are not UTF-8 arrive as surrogates: compare them as the bytes sent.
            given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
            if not hmac.compare_digest(given, expected):
                return _json({"error": "missing or wrong bearer token"}, status=401)
        return await handler(request)

    return guard


def host_name(host_header: str) -> str:
    """The name in a ``Host`` header, without port or IPv6 brackets, lower case."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _host_guard(allowed: frozenset[str]) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in _PROBES and host_name(request.headers.get("Host", "")) not in allowed:
            return _json(
                {"error": "this Host is not served here: use the bind address, or allow the name with "
                 "--admin-allowed-host (or set an admin token)"},
                status=421,
            )  # fmt: skip
        return await handler(request)

    return guard


def build_app(
    backend: AdminBackend, *, token: str | None = None, allowed_hosts: frozenset[str] = LOOPBACK_HOSTS
) -> web.Application:
    """``allowed_hosts`` applies only without ``token``: the token already keeps a browser out."""
    guard = _bearer_guard(token) if token else _host_guard(allowed_hosts)
    app = web.Application(middlewares=[guard])

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        if backend.ready():
            return web.Response(text="ready\n")
        return web.Response(text="not ready: no config has been served yet\n", status=503)

    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(backend.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def status(_: web.Request) -> web.Response:
        return _json(backend.status())

    async def config_dump(request: web.Request) -> web.Response:
        gateway = request.query.get("gateway")
        if not gateway:
            return _json({"error": "name a gateway: ?gateway=NAME", "gateways": backend.gateways()}, 400)
        dump = backend.config_dump(gateway)
        if dump is None:
            return _json({"error": f"no gateway named {gateway!r}", "gateways": backend.gateways()}, 404)
        return _json(dump)

    async def sync(_: web.Request) -> web.Response:
        return _json(await backend.sync())

    async def rollouts(_: web.Request) -> web.Response:
        return _json(backend.rollouts())

    async def rollout_command(request: web.Request) -> web.Response:
        action = request.match_info["action"]
        try:
            return _json(backend.rollout_command(action, request.query.get("rule") or None))
        except LookupError as exc:
            return _json({"error": str(exc.args[0])}, 404)
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)

    async def usage(request: web.Request) -> web.Response:
        try:
            window = int(request.query.get("window", "3600"))
            top = int(request.query.get("top", "20"))
        except ValueError:
            return _json({"error": "window (seconds) and top must be integers"}, 400)
        if not (60 <= window <= 3600 and 1 <= top <= 1000):
            return _json({"error": "window must be 60-3600 seconds and top 1-1000"}, 400)
        return _json(backend.usage(window, top))

    async def signal_windows(request: web.Request) -> web.Response:
        """This replica's own per-backend summaries of [start, end): what the driving replica adds up."""
        try:
            backends, start, end = windows_query(request.query)
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        return _json(backend.signal_windows(backends, start, end))

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/status", status)
    app.router.add_get("/config_dump", config_dump)
    app.router.add_post("/sync", sync)
    app.router.add_get("/rollouts", rollouts)
    app.router.add_post("/rollouts/{action:pause|resume|promote|abort}", rollout_command)
    app.router.add_get("/usage", usage)
    app.router.add_get("/signals/windows", signal_windows)
    return app


MAX_WINDOW_BACKENDS = 64
MAX_WINDOW_SECONDS = 3600  # the signal store keeps 15 minutes; an analysis interval is shorter


def windows_query(query: Mapping[str, str]) -> tuple[tuple[str, ...], float, float]:
    """``backends=a,b&start=S&end=E`` (seconds since the epoch), checked; raises ValueError."""
    backends = tuple(dict.fromkeys(b for b in query.get("backends", "").split(",") if b))
    if not 1 <= len(backends) <= MAX_WINDOW_BACKENDS or any(len(b) > 256 for b in backends):
        raise ValueError(f"name 1-{MAX_WINDOW_BACKENDS} backends: backends=NAME,NAME (256 characters each)")
    try:
        start, end = float(query["start"]), float(query["end"])
    except (KeyError, ValueError):
        raise ValueError("start and end are seconds since the epoch") from None
    if not (math.isfinite(start) and math.isfinite(end) and 0 < end - start <= MAX_WINDOW_SECONDS):
        raise ValueError(f"end must follow start by at most {MAX_WINDOW_SECONDS} seconds")
    return backends, start, end


class AdminServer:
    def __init__(
        self, backend: AdminBackend, *, token: str | None = None, allowed_hosts: frozenset[str] = frozenset()
    ) -> None:
        self._backend = backend
        self._token = token
        self._allowed_hosts = LOOPBACK_HOSTS | {host_name(h) for h in allowed_hosts}
        self._runner: web.AppRunner | None = None
        self.port: int = 0

    async def start(self, host: str, port: int) -> int:
        allowed = self._allowed_hosts | ({host_name(host)} - {"0.0.0.0", "::", ""})
        app = build_app(self._backend, token=self._token, allowed_hosts=frozenset(allowed))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
        logging.getLogger("gitxds.admin").info("admin endpoint on http://%s:%d", host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
