"""Real gRPC services Envoy calls: external authorization and a rate limit service.

Each runs a ``grpc.aio`` server on its own asyncio loop in a daemon thread, on 127.0.0.1 at a port
the kernel picks (``.port``); the test thread stays synchronous.

``AuthzService(keys)``: ``envoy.service.auth.v3.Authorization``; allows requests whose ``x-api-key``
is one of ``keys`` (the demo's authorizer), records the headers of every check (``.seen_headers``),
answers after ``.authorizer.delay`` seconds. ``stop()`` takes it down (to test fail-open / fail-closed).

``RateLimitService(config_paths)``: ``envoy.service.ratelimit.v3.RateLimitService`` with fixed-window
counters (windows counted from the service's start), limits read (or ``load``-ed later) from
``gitxds export ratelimit`` files (the envoyproxy/ratelimit YAML format:
``domain``, ``descriptors`` of ``key`` / optional ``value`` / ``rate_limit`` / nested ``descriptors``;
a descriptor without ``value`` gives every distinct value its own counter). Each descriptor is charged
its own ``hits_addend`` when it has one (0: checked, not counted), else the request's, else 1; a
descriptor is over its limit when its count after the charge exceeds the limit.

``TraceCollector()``: an OTLP/gRPC trace receiver
(``opentelemetry.proto.collector.trace.v1.TraceService``); ``.spans`` lists every span received as a
``ReceivedSpan(trace_id, span_id, service, attributes)``, ids in lower-case hex.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
from envoy.service.auth.v3 import external_auth_pb2, external_auth_pb2_grpc
from envoy.service.ratelimit.v3 import rls_pb2, rls_pb2_grpc
from google.protobuf.duration_pb2 import Duration
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1 import trace_pb2

if not hasattr(trace_pb2, "ScopeSpans"):  # xds-protos' older copy of the OTLP protos won the install
    raise ImportError(
        "opentelemetry/proto is xds-protos' old copy (no ScopeSpans): run `make venv` again, which "
        "reinstalls opentelemetry-proto over it"
    )
from ruamel.yaml import YAML

from gitxds.demo.authz_server import ApiKeyAuthorizer

T = TypeVar("T")

UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
UNIT_ENUM = {
    "second": rls_pb2.RateLimitResponse.RateLimit.SECOND,
    "minute": rls_pb2.RateLimitResponse.RateLimit.MINUTE,
    "hour": rls_pb2.RateLimitResponse.RateLimit.HOUR,
    "day": rls_pb2.RateLimitResponse.RateLimit.DAY,
}


class GrpcServiceThread:
    """A ``grpc.aio`` server with the servicers ``add`` registers, on a loop in a daemon thread."""

    def __init__(self, add: Callable[[grpc.aio.Server], None]) -> None:
        self._add = add
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="grpc-service", daemon=True)
        self._server: grpc.aio.Server | None = None
        self.port = 0

    def start(self) -> GrpcServiceThread:
        self._thread.start()
        self.port = self._call(self._start())
        return self

    async def _start(self) -> int:
        self._server = grpc.aio.server()
        self._add(self._server)
        port = int(self._server.add_insecure_port("127.0.0.1:0"))
        await self._server.start()
        return port

    def _call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def stop(self) -> None:
        """Close the port (clients see connection refused); the thread ends."""
        if self._server is not None:
            self._call(self._server.stop(0))
            self._server = None
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)

    def __enter__(self) -> GrpcServiceThread:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _RecordingAuthorizer(ApiKeyAuthorizer):  # type: ignore[misc]
    def __init__(self, keys: Iterable[str]) -> None:
        super().__init__(keys)
        self.seen_headers: list[dict[str, str]] = []
        self.delay = 0.0  # seconds before answering (to exceed the policy's timeout)

    async def Check(
        self, request: external_auth_pb2.CheckRequest, context: grpc.aio.ServicerContext
    ) -> external_auth_pb2.CheckResponse:
        self.seen_headers.append(dict(request.attributes.request.http.headers))
        await asyncio.sleep(self.delay)
        return await super().Check(request, context)


class AuthzService(GrpcServiceThread):
    """External authorization allowing the API keys ``keys``."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.authorizer = _RecordingAuthorizer(keys)
        super().__init__(
            lambda server: external_auth_pb2_grpc.add_AuthorizationServicer_to_server(self.authorizer, server)
        )

    @property
    def checks(self) -> int:
        return int(self.authorizer.checks)

    @property
    def seen_headers(self) -> list[dict[str, str]]:
        return list(self.authorizer.seen_headers)


# ---------------------------------------------------------------------------------------------------
# Rate limit service


def _limit_for(tree: Sequence[dict[str, Any]], entries: Sequence[tuple[str, str]]) -> dict[str, Any] | None:
    """The ``rate_limit`` of the deepest descriptor node matching ``entries``; exact values win."""
    nodes, limit = tree, None
    for key, value in entries:
        exact = [n for n in nodes if n["key"] == key and n.get("value") == value]
        wildcard = [n for n in nodes if n["key"] == key and "value" not in n]
        matched = (exact or wildcard or [None])[0]
        if matched is None:
            return None
        limit = matched.get("rate_limit")
        nodes = matched.get("descriptors", [])
    return limit


def _hits(request: rls_pb2.RateLimitRequest, descriptor: Any) -> int:
    """A descriptor's own ``hits_addend`` (0 allowed: check without counting), else the request's, else 1."""
    if descriptor.HasField("hits_addend"):
        return int(descriptor.hits_addend.value)
    return int(request.hits_addend or 1)


class _FixedWindowLimiter(rls_pb2_grpc.RateLimitServiceServicer):  # type: ignore[misc]
    def __init__(self, configs: dict[str, list[dict[str, Any]]], clock: Callable[[], float]) -> None:
        self.configs = configs
        self.clock = clock
        self.origin = clock()  # windows count from start, so a short test never straddles two
        self.counters: dict[tuple[Any, ...], int] = {}
        self.calls = 0

    async def ShouldRateLimit(
        self, request: rls_pb2.RateLimitRequest, context: grpc.aio.ServicerContext
    ) -> rls_pb2.RateLimitResponse:
        self.calls += 1
        statuses = [self._check(request.domain, d, _hits(request, d)) for d in request.descriptors]
        over = any(s.code == rls_pb2.RateLimitResponse.OVER_LIMIT for s in statuses)
        code = rls_pb2.RateLimitResponse.OVER_LIMIT if over else rls_pb2.RateLimitResponse.OK
        return rls_pb2.RateLimitResponse(overall_code=code, statuses=statuses)

    def _check(self, domain: str, descriptor: Any, hits: int) -> rls_pb2.RateLimitResponse.DescriptorStatus:
        entries = tuple((e.key, e.value) for e in descriptor.entries)
        limit = _limit_for(self.configs.get(domain, []), entries)
        if limit is None:
            return rls_pb2.RateLimitResponse.DescriptorStatus(code=rls_pb2.RateLimitResponse.OK)
        window = UNIT_SECONDS[limit["unit"]]
        now = self.clock() - self.origin
        counter_key = (domain, entries, int(now // window))
        self.counters[counter_key] = self.counters.get(counter_key, 0) + hits
        used, allowed = self.counters[counter_key], int(limit["requests_per_unit"])
        reset = window - int(now % window)
        return rls_pb2.RateLimitResponse.DescriptorStatus(
            code=rls_pb2.RateLimitResponse.OVER_LIMIT if used > allowed else rls_pb2.RateLimitResponse.OK,
            current_limit=rls_pb2.RateLimitResponse.RateLimit(
                requests_per_unit=allowed, unit=UNIT_ENUM[limit["unit"]]
            ),
            limit_remaining=max(allowed - used, 0),
            duration_until_reset=Duration(seconds=reset),
        )

    def charged(self, *values: str) -> int:
        """Hits counted so far on descriptors whose entries carry every one of ``values``."""
        return sum(
            hits
            for (_, entries, _), hits in self.counters.items()
            if set(values) <= {value for _, value in entries}
        )


def read_ratelimit_configs(paths: Iterable[Path]) -> dict[str, list[dict[str, Any]]]:
    """Domain -> descriptor tree, from envoyproxy/ratelimit YAML files."""
    configs: dict[str, list[dict[str, Any]]] = {}
    for path in paths:
        for document in YAML(typ="safe").load_all(path.read_text()):
            configs.setdefault(document["domain"], []).extend(document.get("descriptors", []))
    return configs


class RateLimitService(GrpcServiceThread):
    """A fixed-window rate limit service enforcing the limits in ``config_paths``."""

    def __init__(
        self, config_paths: Iterable[Path] = (), clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limiter = _FixedWindowLimiter(read_ratelimit_configs(config_paths), clock)
        super().__init__(
            lambda server: rls_pb2_grpc.add_RateLimitServiceServicer_to_server(self.limiter, server)
        )

    def load(self, config_paths: Iterable[Path]) -> None:
        """Replace the limits (the config is usually exported after the service's port is known)."""
        self.limiter.configs = read_ratelimit_configs(config_paths)

    @property
    def calls(self) -> int:
        return int(self.limiter.calls)

    def charged(self, *values: str) -> int:
        """Hits counted on descriptors carrying all ``values`` (e.g. a key and ``tokens``)."""
        return self.limiter.charged(*values)


# ---------------------------------------------------------------------------------------------------
# OTLP trace receiver


@dataclass(frozen=True)
class ReceivedSpan:
    trace_id: str
    span_id: str
    service: str  # the resource's service.name
    attributes: dict[str, str]


def _text(value: AnyValue) -> str:
    kind = value.WhichOneof("value")
    return "" if kind is None else str(getattr(value, kind))


class _TraceReceiver(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.exports = 0

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.aio.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self.exports += 1
        for resource_spans in request.resource_spans:
            resource = {a.key: _text(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                self.spans += [
                    ReceivedSpan(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        service=resource.get("service.name", ""),
                        attributes={a.key: _text(a.value) for a in span.attributes},
                    )
                    for span in scope_spans.spans
                ]
        return trace_service_pb2.ExportTraceServiceResponse()


class TraceCollector(GrpcServiceThread):
    """Receives the spans Envoy exports over OTLP/gRPC."""

    def __init__(self) -> None:
        self.receiver = _TraceReceiver()
        super().__init__(
            lambda server: trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self.receiver, server)
        )

    @property
    def spans(self) -> list[ReceivedSpan]:
        return list(self.receiver.spans)
