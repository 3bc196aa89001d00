"""Gateway ``tracing`` -> Envoy's OpenTelemetry tracer on every listener, and span attributes per rule.

The tracer exports OTLP over gRPC to the collector Backend's cluster, off the request path: a
collector that is down only loses spans. Sampling is the tracer's own parent-based sampler, so a
request that arrives with a sampled ``traceparent`` is always traced and everything else is sampled
at ``samplingPercent``; the connection manager itself samples 100% so it never overrides that.
Envoy propagates W3C ``traceparent`` to upstreams with the span's trace id.
"""

from __future__ import annotations

from envoy.config.core.v3.extension_pb2 import TypedExtensionConfig
from envoy.config.core.v3.grpc_service_pb2 import GrpcService
from envoy.config.route.v3.route_components_pb2 import Tracing as RouteTracing
from envoy.config.trace.v3.http_tracer_pb2 import Tracing as TracingProvider
from envoy.config.trace.v3.opentelemetry_pb2 import OpenTelemetryConfig
from envoy.extensions.filters.network.http_connection_manager.v3.http_connection_manager_pb2 import (
    HttpConnectionManager,
)
from envoy.extensions.tracers.opentelemetry.samplers.v3.parent_based_sampler_pb2 import (
    ParentBasedSamplerConfig,
)
from envoy.extensions.tracers.opentelemetry.samplers.v3.trace_id_ratio_based_sampler_pb2 import (
    TraceIdRatioBasedSamplerConfig,
)
from envoy.type.tracing.v3.custom_tag_pb2 import CustomTag
from envoy.type.v3.percent_pb2 import Percent

from gitxds import ir
from gitxds.translators.xds._proto import duration, fractional_percent, packed
from gitxds.translators.xds.ai import AI_NAMESPACE, MODEL_KEY
from gitxds.translators.xds.endpoints import BACKEND_METADATA_KEY, METADATA_NAMESPACE
from gitxds.translators.xds.filters import reads_model

__all__ = [
    "ATTEMPTS_ATTRIBUTE",
    "BACKEND_ATTRIBUTE",
    "EXPORT_TIMEOUT_MS",
    "FALLBACK_ATTRIBUTE",
    "GATEWAY_ATTRIBUTE",
    "MODEL_ATTRIBUTE",
    "RULE_ATTRIBUTE",
    "TIER_ATTRIBUTE",
    "connection_manager_tracing_for",
    "requested_model_source",
    "route_tracing_for",
]

OPENTELEMETRY_TRACER = "envoy.tracers.opentelemetry"
EXPORT_TIMEOUT_MS = 5_000  # one OTLP export call; exports never hold a request

# Span attribute names. The requested model uses the OpenTelemetry GenAI name; the others have no
# semantic-convention equivalent, so they live under gitxds.*.
GATEWAY_ATTRIBUTE = "gitxds.gateway"
RULE_ATTRIBUTE = "gitxds.route.rule"
BACKEND_ATTRIBUTE = "gitxds.backend"  # the Backend whose endpoint answered: the canary arm or a fallback
ATTEMPTS_ATTRIBUTE = "gitxds.upstream.attempts"  # 1 unless a retry (or a move to the fallback) happened
FALLBACK_ATTRIBUTE = "gitxds.route.fallback"  # the rule's fallback chain, comma-separated
TIER_ATTRIBUTE = "gitxds.api_key.tier"
MODEL_ATTRIBUTE = "gen_ai.request.model"


# The Backend named in the metadata of the endpoint that answered (a fallback's own name included).
_ANSWERING_BACKEND = f"%UPSTREAM_METADATA({METADATA_NAMESPACE}:{BACKEND_METADATA_KEY})%"


def _sampler(percent: float) -> TypedExtensionConfig:
    ratio = TraceIdRatioBasedSamplerConfig(sampling_percentage=fractional_percent(percent))
    wrapped = TypedExtensionConfig(
        name="envoy.tracers.opentelemetry.samplers.trace_id_ratio_based", typed_config=packed(ratio)
    )
    return TypedExtensionConfig(
        name="envoy.tracers.opentelemetry.samplers.parent_based",
        typed_config=packed(ParentBasedSamplerConfig(wrapped_sampler=wrapped)),
    )


def connection_manager_tracing_for(gateway: str, tracing: ir.Tracing) -> HttpConnectionManager.Tracing:
    """One server span per request (no separate upstream span), exported to the collector."""
    grpc = GrpcService(
        envoy_grpc=GrpcService.EnvoyGrpc(cluster_name=tracing.collector),
        timeout=duration(EXPORT_TIMEOUT_MS),
    )
    tracer = OpenTelemetryConfig(
        grpc_service=grpc, service_name=tracing.service_name, sampler=_sampler(tracing.sampling_percent)
    )
    return HttpConnectionManager.Tracing(
        provider=TracingProvider.Http(name=OPENTELEMETRY_TRACER, typed_config=packed(tracer)),
        random_sampling=Percent(value=100.0),
        custom_tags=[CustomTag(tag=GATEWAY_ATTRIBUTE, literal=CustomTag.Literal(value=gateway))],
    )


def _literal(tag: str, value: str) -> CustomTag:
    return CustomTag(tag=tag, literal=CustomTag.Literal(value=value))


def _tier_tag(policy: ir.RateLimitPolicy) -> CustomTag:
    if policy.tier_header is None:
        return _literal(TIER_ATTRIBUTE, policy.default_tier)
    header = CustomTag.Header(name=policy.tier_header, default_value=policy.default_tier)
    return CustomTag(tag=TIER_ATTRIBUTE, request_header=header)


def requested_model_source(rule: ir.Rule) -> str | None:
    """The Envoy format string that reads the model a request asks for: on rules that route on the
    request body's ``model``, what the body filter wrote into the request's metadata; None on every
    other rule (the body is read only where a rule routes on it)."""
    return f"%DYNAMIC_METADATA({AI_NAMESPACE}:{MODEL_KEY})%" if reads_model(rule) else None


def route_tracing_for(
    rule: ir.Rule, rate_limit: ir.RateLimitPolicy | None, model_source: str | None = None
) -> RouteTracing:
    """The span attributes of one rule. ``rate_limit``: the rule's effective policy (for the tier);
    ``model_source``: the Envoy format string that reads the requested model, on rules that route on
    it (None elsewhere, so no span carries a model the gateway did not look at)."""
    tags = [
        _literal(RULE_ATTRIBUTE, rule.name),
        CustomTag(tag=BACKEND_ATTRIBUTE, value=_ANSWERING_BACKEND),
        CustomTag(tag=ATTEMPTS_ATTRIBUTE, value="%UPSTREAM_REQUEST_ATTEMPT_COUNT%"),
    ]
    if rule.fallback:
        tags.append(_literal(FALLBACK_ATTRIBUTE, ",".join(rule.fallback)))
    if rate_limit is not None:
        tags.append(_tier_tag(rate_limit))
    if model_source is not None:
        tags.append(CustomTag(tag=MODEL_ATTRIBUTE, value=model_source))
    return RouteTracing(custom_tags=tags)
