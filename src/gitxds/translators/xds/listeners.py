"""Listener builders: one listener per gateway listener, HTTP connection manager with RDS over ADS."""

from __future__ import annotations

from envoy.config.accesslog.v3.accesslog_pb2 import AccessLog
from envoy.config.core.v3.base_pb2 import TransportSocket
from envoy.config.core.v3.config_source_pb2 import ApiVersion
from envoy.config.core.v3.grpc_service_pb2 import GrpcService
from envoy.config.core.v3.substitution_format_string_pb2 import SubstitutionFormatString
from envoy.config.listener.v3.listener_components_pb2 import Filter, FilterChain
from envoy.config.listener.v3.listener_pb2 import Listener
from envoy.extensions.access_loggers.grpc.v3.als_pb2 import CommonGrpcAccessLogConfig, HttpGrpcAccessLogConfig
from envoy.extensions.access_loggers.stream.v3.stream_pb2 import StdoutAccessLog
from envoy.extensions.filters.network.http_connection_manager.v3.http_connection_manager_pb2 import (
    HttpConnectionManager,
    HttpFilter,
    Rds,
)
from envoy.extensions.transport_sockets.tls.v3.secret_pb2 import SdsSecretConfig
from envoy.extensions.transport_sockets.tls.v3.tls_pb2 import CommonTlsContext, DownstreamTlsContext
from envoy.type.tracing.v3.custom_tag_pb2 import CustomTag
from google.protobuf.struct_pb2 import Struct
from google.protobuf.wrappers_pb2 import BoolValue

from gitxds import ir
from gitxds.translators.xds._proto import CONTROL_PLANE_CLUSTER, ads_config_source, packed
from gitxds.translators.xds.ai import AI_NAMESPACE, MODEL_LABEL_KEY
from gitxds.translators.xds.endpoints import socket_address_for
from gitxds.translators.xds.filters import FilterPlan, http_filters_for
from gitxds.translators.xds.tracing import connection_manager_tracing_for
from gitxds.translators.xds.usage_stats import TTFT_FORMAT, usage_stats_logs

__all__ = [
    "GRPC_ACCESS_LOG",
    "JSON_ACCESS_LOG_FIELDS",
    "USAGE_LOG_PREFIX",
    "access_log_for",
    "downstream_tls_for",
    "http_connection_manager_for",
    "listener_for",
    "listener_name",
    "route_configuration_name",
]

HTTP_CONNECTION_MANAGER = "envoy.filters.network.http_connection_manager"

JSON_ACCESS_LOG_FIELDS = {
    "start_time": "%START_TIME%",
    "method": "%REQ(:METHOD)%",
    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "protocol": "%PROTOCOL%",
    "status": "%RESPONSE_CODE%",
    "flags": "%RESPONSE_FLAGS%",
    "route": "%ROUTE_NAME%",
    "backend": "%UPSTREAM_METADATA(gitxds:backend)%",
    "upstream_host": "%UPSTREAM_HOST%",
    "duration_ms": "%DURATION%",
    "bytes_received": "%BYTES_RECEIVED%",
    "bytes_sent": "%BYTES_SENT%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "user_agent": "%REQ(USER-AGENT)%",
}


GRPC_ACCESS_LOG = "envoy.access_loggers.http_grpc"
USAGE_LOG_PREFIX = "gitxds/"


def key_and_tier_of(plan: FilterPlan) -> tuple[str | None, str | None, tuple[str, ...]]:
    """The key header, tier header and tiers usage is accounted by: those of the gateway's rate limit
    policies (the first, by name, when they differ)."""
    policies = plan.rate_limit_policies
    key_header = policies[0].key_header if policies else None
    tiered = [p for p in policies if p.tier_header is not None]
    if not tiered:
        return key_header, None, ()
    header = tiered[0].tier_header
    tiers = sorted({tier for p in tiered if p.tier_header == header for tier in p.tiers})
    return key_header, header, tuple(tiers)


def usage_log_for(gateway: str, plan: FilterPlan) -> AccessLog:
    """Every request's signals, streamed to gitxds over gRPC (ALS), batched and off the request path.

    The key and tier come from the headers the gateway's rate limit policies read (the first, by
    name, when they differ); gitxds hashes the key on arrival and folds unknown tiers into ``other``."""
    tags = {
        "backend": "%UPSTREAM_METADATA(gitxds:backend)%",
        "model": f"%METADATA(ROUTE:{AI_NAMESPACE}:{MODEL_LABEL_KEY})%",
        "flags": "%RESPONSE_FLAGS%",
        "ttft_ms": TTFT_FORMAT,
    }
    key_header, tier_header, _ = key_and_tier_of(plan)
    if key_header is not None:
        tags["key"] = f"%REQ({key_header})%"
    if tier_header is not None:
        tags["tier"] = f"%REQ({tier_header})%"
    common = CommonGrpcAccessLogConfig(
        log_name=USAGE_LOG_PREFIX + gateway,
        grpc_service=GrpcService(envoy_grpc=GrpcService.EnvoyGrpc(cluster_name=CONTROL_PLANE_CLUSTER)),
        transport_api_version=ApiVersion.V3,
        custom_tags=[CustomTag(tag=name, value=value) for name, value in tags.items()],
    )
    return AccessLog(name=GRPC_ACCESS_LOG, typed_config=packed(HttpGrpcAccessLogConfig(common_config=common)))


def listener_name(gateway: str, listener: ir.Listener) -> str:
    return f"{gateway}/{listener.name}"


def route_configuration_name(gateway: str, listener: ir.Listener) -> str:
    """One RouteConfiguration per listener port."""
    return f"{gateway}/{listener.port}"


def _stat_prefix(gateway: str, listener: ir.Listener) -> str:
    return f"{gateway}_{listener.name}".replace("-", "_")


def access_log_for(log_format: ir.AccessLogFormat) -> AccessLog:
    """Access log lines to stdout: Envoy's default text line, or one JSON object per request."""
    stdout = StdoutAccessLog()
    if log_format is ir.AccessLogFormat.JSON:
        json_format = Struct()
        json_format.update(JSON_ACCESS_LOG_FIELDS)
        stdout.log_format.CopyFrom(SubstitutionFormatString(json_format=json_format))
    return AccessLog(name="envoy.access_loggers.stdout", typed_config=packed(stdout))


def http_connection_manager_for(
    route_config_name: str,
    stat_prefix: str,
    http_filters: list[HttpFilter],
    log_format: ir.AccessLogFormat | None,
) -> HttpConnectionManager:
    manager = HttpConnectionManager(
        stat_prefix=stat_prefix,
        codec_type=HttpConnectionManager.AUTO,
        rds=Rds(config_source=ads_config_source(), route_config_name=route_config_name),
        http_filters=http_filters,
        use_remote_address=BoolValue(value=True),
        normalize_path=BoolValue(value=True),
        strip_any_host_port=True,
    )
    if log_format is not None:
        manager.access_log.append(access_log_for(log_format))
    return manager


def downstream_tls_for(secret_name: str) -> TransportSocket:
    """TLS with the certificate named by ``tls.secretRef``, delivered over SDS on the ADS stream."""
    context = DownstreamTlsContext(
        common_tls_context=CommonTlsContext(
            alpn_protocols=["h2", "http/1.1"],
            tls_certificate_sds_secret_configs=[
                SdsSecretConfig(name=secret_name, sds_config=ads_config_source())
            ],
        )
    )
    return TransportSocket(name="envoy.transport_sockets.tls", typed_config=packed(context))


def listener_for(gateway: ir.Gateway, listener: ir.Listener, plan: FilterPlan) -> Listener:
    manager = http_connection_manager_for(
        route_configuration_name(gateway.name, listener),
        _stat_prefix(gateway.name, listener),
        http_filters_for(plan),
        gateway.access_log,
    )
    if gateway.tracing is not None:
        manager.tracing.CopyFrom(connection_manager_tracing_for(gateway.name, gateway.tracing))
    manager.access_log.append(usage_log_for(gateway.name, plan))
    if plan.openai_backends:
        _, tier_header, tiers = key_and_tier_of(plan)
        manager.access_log.extend(usage_stats_logs(gateway.name, tier_header, tiers))
    chain = FilterChain(filters=[Filter(name=HTTP_CONNECTION_MANAGER, typed_config=packed(manager))])
    if listener.protocol is ir.ListenerProtocol.HTTPS:
        assert listener.tls_secret is not None
        chain.transport_socket.CopyFrom(downstream_tls_for(listener.tls_secret))
    return Listener(
        name=listener_name(gateway.name, listener),
        address=socket_address_for(listener.address, listener.port),
        filter_chains=[chain],
    )
