"""The user-facing schema of every kind (Route: schema_route, RolloutPolicy: schema_rollout).

Field names are snake_case here and camelCase in YAML. Cross-field rules (exactly one endpoint
source, HTTPS needs tls, ...) live in :mod:`gitxds.config.checks` so every violation is reported.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from gitxds.config.base import HeaderOps, Model
from gitxds.config.schema_rollout import RolloutPolicySpec
from gitxds.config.schema_route import RouteSpec
from gitxds.config.types import (
    UINT32_MAX,
    HeaderName,
    Hostname,
    IpAddress,
    LabelSelector,
    Name,
    Percent,
    Port,
    PositiveDuration,
    ProxyIdentity,
    Rate,
    Ref,
    SecretName,
    ServiceName,
    http_path,
)

__all__ = [
    "API_VERSION",
    "KINDS",
    "AuthPolicyObject",
    "AuthPolicySpec",
    "BackendObject",
    "BackendSpec",
    "ConfigObject",
    "GatewayObject",
    "GatewaySpec",
    "Metadata",
    "RateLimitPolicyObject",
    "RateLimitPolicySpec",
    "RolloutPolicyObject",
    "RouteObject",
]

API_VERSION = "gitxds.dev/v1alpha1"


class Metadata(Model):
    name: Name
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)  # free-form notes, not interpreted


# --- Gateway ---------------------------------------------------------------------------------------


MAX_PROXY_IDENTITIES = 64


class ProxySelector(Model):
    cluster: str | None = None
    node_id: str | None = None
    # Certificate SANs allowed to receive the gateway when the xDS port requires client certificates.
    identities: list[ProxyIdentity] = Field(default_factory=list, max_length=MAX_PROXY_IDENTITIES)


class ListenerTls(Model):
    secret_ref: SecretName


class Listener(Model):
    name: Name
    port: Port
    address: IpAddress = "0.0.0.0"
    protocol: Literal["HTTP", "HTTPS"] = "HTTP"
    tls: ListenerTls | None = None


class AccessLog(Model):
    format: Literal["text", "json"] = "text"


class Tracing(Model):
    collector: Ref  # a Backend speaking OTLP over gRPC
    sampling_percent: Percent = 100.0
    service_name: ServiceName | None = None  # default: the gateway's name


MAX_MODEL_BODY_BYTES = 64 * 1024 * 1024


class ModelRouting(Model):
    """How much of a request body Envoy buffers to read its ``model`` (rules with a model match only)."""

    max_body_bytes: int = Field(1024 * 1024, ge=1024, le=MAX_MODEL_BODY_BYTES)


class GatewaySpec(Model):
    proxies: ProxySelector
    listeners: list[Listener]
    access_log: AccessLog | None = None
    tracing: Tracing | None = None
    model_routing: ModelRouting | None = None
    auth: Ref | None = None
    rate_limit: Ref | None = None


# --- Backend ---------------------------------------------------------------------------------------


class StaticEndpoint(Model):
    address: IpAddress
    port: Port
    priority: int = Field(0, ge=0, le=UINT32_MAX)
    weight: int = Field(1, ge=1, le=UINT32_MAX)


class DnsSource(Model):
    hostname: Hostname
    port: Port
    logical: bool = False


class KubernetesSource(Model):
    service: Name
    namespace: Name = "default"
    port: Port
    selector: LabelSelector | None = None  # only the Service's pods carrying all of these labels


class UpstreamTls(Model):
    sni: Hostname | None = None


class HashOn(Model):
    header: HeaderName


class CircuitBreaker(Model):
    max_connections: int | None = Field(None, ge=0, le=UINT32_MAX)
    max_pending_requests: int | None = Field(None, ge=0, le=UINT32_MAX)
    max_requests: int | None = Field(None, ge=0, le=UINT32_MAX)
    max_retries: int | None = Field(None, ge=0, le=UINT32_MAX)


class OutlierDetection(Model):
    consecutive_5xx: int | None = Field(None, ge=1, le=UINT32_MAX, alias="consecutive5xx")
    interval: PositiveDuration | None = None
    base_ejection_time: PositiveDuration | None = None
    max_ejection_percent: int | None = Field(None, ge=0, le=100)


class HealthCheck(Model):
    path: Annotated[str, AfterValidator(http_path)]
    interval: PositiveDuration = 10_000
    timeout: PositiveDuration = 1_000
    healthy_threshold: int = Field(1, ge=1, le=UINT32_MAX)
    unhealthy_threshold: int = Field(2, ge=1, le=UINT32_MAX)


class Pricing(Model):
    """Price per million tokens, in the one currency the whole config uses (docs/config.md)."""

    input_per_million: float = Field(ge=0, le=1_000_000)
    output_per_million: float = Field(ge=0, le=1_000_000)


class BackendSpec(Model):
    endpoints: list[StaticEndpoint] | None = None
    dns: DnsSource | None = None
    kubernetes: KubernetesSource | None = None
    protocol: Literal["HTTP1", "HTTP2", "GRPC"] = "HTTP1"
    tls: UpstreamTls | None = None
    connect_timeout: PositiveDuration = 5_000
    load_balancer: Literal["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "RING_HASH"] = "ROUND_ROBIN"
    hash_on: HashOn | None = None
    circuit_breaker: CircuitBreaker | None = None
    outlier_detection: OutlierDetection | None = None
    health_check: HealthCheck | None = None
    request_headers: HeaderOps | None = None
    api: Literal["openai"] | None = None
    pricing: Pricing | None = None


# --- Policies --------------------------------------------------------------------------------------


class RateLimitKey(Model):
    header: HeaderName


class RateLimitTier(Model):
    header: HeaderName | None = None
    default: str = "default"


class RateLimitService(Model):
    backend: Ref
    domain: str = "gitxds"


class RateLimitPolicySpec(Model):
    mode: Literal["local", "global"] = "local"
    key: RateLimitKey
    tier: RateLimitTier | None = None
    limits: dict[str, Rate] = Field(default_factory=dict)
    tokens: dict[str, Rate] = Field(default_factory=dict)  # token budgets per tier, charged per response
    service: RateLimitService | None = None


class ExtAuthz(Model):
    backend: Ref
    timeout: PositiveDuration = 200
    fail_open: bool = False
    include_headers: list[HeaderName] = Field(default_factory=list)


class AuthPolicySpec(Model):
    ext_authz: ExtAuthz


# --- Envelopes -------------------------------------------------------------------------------------


class GatewayObject(Model):
    api_version: Literal["gitxds.dev/v1alpha1"]
    kind: Literal["Gateway"]
    metadata: Metadata
    spec: GatewaySpec


class BackendObject(Model):
    api_version: Literal["gitxds.dev/v1alpha1"]
    kind: Literal["Backend"]
    metadata: Metadata
    spec: BackendSpec


class RouteObject(Model):
    api_version: Literal["gitxds.dev/v1alpha1"]
    kind: Literal["Route"]
    metadata: Metadata
    spec: RouteSpec


class RateLimitPolicyObject(Model):
    api_version: Literal["gitxds.dev/v1alpha1"]
    kind: Literal["RateLimitPolicy"]
    metadata: Metadata
    spec: RateLimitPolicySpec


class AuthPolicyObject(Model):
    api_version: Literal["gitxds.dev/v1alpha1"]
    kind: Literal["AuthPolicy"]
    metadata: Metadata
    spec: AuthPolicySpec


class RolloutPolicyObject(Model):
    api_version: Literal["gitxds.dev/v1alpha1"]
    kind: Literal["RolloutPolicy"]
    metadata: Metadata
    spec: RolloutPolicySpec


ConfigObject = (
    GatewayObject
    | BackendObject
    | RouteObject
    | RateLimitPolicyObject
    | AuthPolicyObject
    | RolloutPolicyObject
)

KINDS: dict[str, type[ConfigObject]] = {
    "Gateway": GatewayObject,
    "Backend": BackendObject,
    "Route": RouteObject,
    "RateLimitPolicy": RateLimitPolicyObject,
    "AuthPolicy": AuthPolicyObject,
    "RolloutPolicy": RolloutPolicyObject,
}
