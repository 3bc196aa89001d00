"""The gRPC access-log receiver (envoy.service.accesslog.v3): Envoy's log entries -> AccessRecords.

Envoy streams batches off the request path and drops them when gitxds is away, so these are signals,
not a ledger. What each field means is set by the access log gitxds configures on every listener
(:func:`gitxds.translators.xds.listeners.usage_log_for`): its ``log_name`` names the gateway and its
custom tags carry the backend, model label, tier, key, response flags and time to first body byte.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

import grpc
from envoy.data.accesslog.v3.accesslog_pb2 import HTTPAccessLogEntry
from envoy.service.accesslog.v3 import als_pb2, als_pb2_grpc

from gitxds.signals.records import OTHER, AccessRecord, key_hash
from gitxds.signals.store import SignalStore

__all__ = ["LOG_NAME_PREFIX", "USAGE_NAMESPACE", "AccessLogReceiver", "decode_entry"]

LOG_NAME_PREFIX = "gitxds/"
USAGE_NAMESPACE = "gitxds.ai"
_UNSET = ("", "-")
KnownTiers = Callable[[], frozenset[str]]
# Whether the stream's peer may log for a gateway (its certificate's identities); None: anyone may.
Authorize = Callable[[grpc.aio.ServicerContext, str], bool]


# Names, labels and flags gitxds configures are far shorter; a longer value (a hostile sender) is cut,
# so the store's bounded maps also stay bounded in bytes.
MAX_TEXT = 256


def _tag(tags: dict[str, str], name: str, limit: int | None = MAX_TEXT) -> str:
    value = tags.get(name, "")
    return "" if value in _UNSET else value[:limit]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _tokens(entry: HTTPAccessLogEntry, key: str) -> int | None:
    fields = entry.common_properties.metadata.filter_metadata.get(USAGE_NAMESPACE)
    if fields is None or key not in fields.fields:
        return None
    value = fields.fields[key]
    return int(value.number_value) if value.HasField("number_value") and value.number_value >= 0 else None


def decode_entry(entry: HTTPAccessLogEntry, gateway: str, node: str, tiers: frozenset[str]) -> AccessRecord:
    """One Envoy entry as an AccessRecord; client-chosen values outside ``tiers`` become ``other``."""
    common = entry.common_properties
    tags = dict(common.custom_tags)
    tier = _tag(tags, "tier")
    return AccessRecord(
        gateway=gateway,
        route_rule=common.route_name[:MAX_TEXT],
        backend=_tag(tags, "backend"),
        status=entry.response.response_code.value,
        response_flags=frozenset(flag for flag in _tag(tags, "flags").split(",") if flag),
        duration_ms=common.duration.ToMilliseconds() if common.HasField("duration") else 0.0,
        ttft_ms=_number(_tag(tags, "ttft_ms")),
        input_tokens=_tokens(entry, "input_tokens"),
        output_tokens=_tokens(entry, "output_tokens"),
        model=_tag(tags, "model") or OTHER,
        tier=tier if tier in tiers else OTHER,
        key_hash=key_hash(_tag(tags, "key", limit=None)),  # hashed whole: long keys stay apart
        timestamp=common.start_time.ToMicroseconds() / 1_000_000,
        node=node[:MAX_TEXT],
    )


class AccessLogReceiver(als_pb2_grpc.AccessLogServiceServicer):  # type: ignore[misc]
    """Registered on the xDS gRPC server (one port): ``XdsServer.add_servicer(receiver.register)``."""

    def __init__(
        self, store: SignalStore, known_tiers: KnownTiers = frozenset, authorize: Authorize | None = None
    ) -> None:
        self.store = store
        self.known_tiers = known_tiers
        self.authorize = authorize
        self._logger = logging.getLogger("gitxds.signals")

    def register(self, server: grpc.aio.Server) -> None:
        als_pb2_grpc.add_AccessLogServiceServicer_to_server(self, server)

    async def StreamAccessLogs(  # noqa: N802 (the gRPC method's name)
        self,
        request_iterator: AsyncIterator[als_pb2.StreamAccessLogsMessage],
        context: grpc.aio.ServicerContext,
    ) -> als_pb2.StreamAccessLogsResponse:
        gateway = node = ""
        authorized = self.authorize is None
        async for message in request_iterator:
            if message.HasField("identifier"):
                node = message.identifier.node.id[:MAX_TEXT]
                gateway = message.identifier.log_name.removeprefix(LOG_NAME_PREFIX)[:MAX_TEXT]
                authorized = self.authorize is None or self.authorize(context, gateway)
            if not authorized:  # forged logs could fail another gateway's rollout: never count them
                await context.abort(
                    grpc.StatusCode.PERMISSION_DENIED,
                    "the client certificate is not among the gateway's proxies.identities",
                )
            tiers = self.known_tiers()
            for entry in message.http_logs.log_entry:
                self.store.record(decode_entry(entry, gateway, node, tiers))
        return als_pb2.StreamAccessLogsResponse()
