"""The internal model: what the user's config means, with every name resolved.

Plain frozen dataclasses (no pydantic, no protobuf) so both outputs, Envoy xDS and Istio YAML, are
pure functions of it. Durations are integer milliseconds; collections are tuples sorted the way the
user wrote them (rules, matches, backends) or by name (everything keyed by name).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from functools import cached_property

from gitxds.ir.rollout import RolloutPolicy

__all__ = [
    "DEFAULT_MODEL_BODY_LIMIT",
    "AccessLogFormat",
    "AuthPolicy",
    "Backend",
    "BackendApi",
    "CircuitBreaker",
    "DnsEndpoints",
    "Endpoint",
    "EndpointSource",
    "ExtAuthz",
    "Fault",
    "FaultAbort",
    "FaultDelay",
    "Gateway",
    "HeaderMatch",
    "HeaderMatchKind",
    "HeaderOps",
    "HeaderValue",
    "HealthCheck",
    "KubernetesEndpoints",
    "Listener",
    "ListenerProtocol",
    "LoadBalancer",
    "Match",
    "Mirror",
    "Model",
    "ModelMatch",
    "OutlierDetection",
    "PathMatch",
    "PathMatchKind",
    "Pricing",
    "Protocol",
    "ProxySelector",
    "Rate",
    "RateLimitMode",
    "RateLimitPolicy",
    "RateLimitService",
    "Retry",
    "Route",
    "Rule",
    "SecretRef",
    "StaticEndpoints",
    "Streaming",
    "Tracing",
    "UpstreamTls",
    "WeightedBackend",
]

# ---------------------------------------------------------------------------------------------------
# Shared pieces


@dataclass(frozen=True, slots=True)
class SecretRef:
    """A value that lives in the secret store, never in Git; translators resolve or redact it."""

    name: str


HeaderValue = str | SecretRef


@dataclass(frozen=True, slots=True)
class HeaderOps:
    """Header rewrites: ``set`` overwrites, ``add`` appends, ``remove`` deletes (applied by Envoy)."""

    set: tuple[tuple[str, HeaderValue], ...] = ()
    add: tuple[tuple[str, HeaderValue], ...] = ()
    remove: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.set or self.add or self.remove)


# ---------------------------------------------------------------------------------------------------
# Backends (one Envoy cluster each)


class Protocol(enum.StrEnum):
    HTTP1 = "HTTP1"
    HTTP2 = "HTTP2"
    GRPC = "GRPC"


class LoadBalancer(enum.StrEnum):
    ROUND_ROBIN = "ROUND_ROBIN"
    LEAST_REQUEST = "LEAST_REQUEST"
    RANDOM = "RANDOM"
    RING_HASH = "RING_HASH"


@dataclass(frozen=True, slots=True)
class Endpoint:
    address: str
    port: int
    priority: int = 0
    weight: int = 1


@dataclass(frozen=True, slots=True)
class StaticEndpoints:
    """Endpoints listed in the config; served to Envoy over EDS."""

    endpoints: tuple[Endpoint, ...]


@dataclass(frozen=True, slots=True)
class DnsEndpoints:
    """Envoy resolves ``hostname`` itself (STRICT_DNS, or LOGICAL_DNS when ``logical``)."""

    hostname: str
    port: int
    logical: bool = False


@dataclass(frozen=True, slots=True)
class KubernetesEndpoints:
    """Endpoints discovered from EndpointSlices of a Service; served to Envoy over EDS.

    With a ``selector`` only the endpoints whose pod carries every one of those labels (sorted
    ``(key, value)`` pairs); empty: every endpoint of the Service.
    """

    service: str
    namespace: str
    port: int
    selector: tuple[tuple[str, str], ...] = ()


EndpointSource = StaticEndpoints | DnsEndpoints | KubernetesEndpoints


@dataclass(frozen=True, slots=True)
class CircuitBreaker:
    max_connections: int | None = None
    max_pending_requests: int | None = None
    max_requests: int | None = None
    max_retries: int | None = None


@dataclass(frozen=True, slots=True)
class OutlierDetection:
    consecutive_5xx: int | None = None
    interval_ms: int | None = None
    base_ejection_time_ms: int | None = None
    max_ejection_percent: int | None = None


@dataclass(frozen=True, slots=True)
class HealthCheck:
    path: str
    interval_ms: int
    timeout_ms: int
    healthy_threshold: int = 1
    unhealthy_threshold: int = 2


@dataclass(frozen=True, slots=True)
class UpstreamTls:
    sni: str | None = None


class BackendApi(enum.StrEnum):
    """The protocol a Backend's responses follow, so Envoy can read their token usage."""

    OPENAI = "openai"


@dataclass(frozen=True, slots=True)
class Pricing:
    """Price of a million tokens, in the config's one currency."""

    input_per_million: float
    output_per_million: float


@dataclass(frozen=True, slots=True)
class Backend:
    name: str
    endpoints: EndpointSource
    labels: tuple[tuple[str, str], ...] = ()
    protocol: Protocol = Protocol.HTTP1
    tls: UpstreamTls | None = None
    connect_timeout_ms: int = 5000
    load_balancer: LoadBalancer = LoadBalancer.ROUND_ROBIN
    hash_on_header: str | None = None  # only with RING_HASH
    circuit_breaker: CircuitBreaker | None = None
    outlier_detection: OutlierDetection | None = None
    health_check: HealthCheck | None = None
    request_headers: HeaderOps = field(default_factory=HeaderOps)
    api: BackendApi | None = None
    pricing: Pricing | None = None


# ---------------------------------------------------------------------------------------------------
# Policies


class RateLimitMode(enum.StrEnum):
    LOCAL = "local"
    GLOBAL = "global"


@dataclass(frozen=True, slots=True)
class Rate:
    requests: int
    per_seconds: int  # 1, 60 or 3600


@dataclass(frozen=True, slots=True)
class RateLimitService:
    backend: str  # a Backend speaking Envoy's RLS gRPC API
    domain: str


@dataclass(frozen=True, slots=True)
class RateLimitPolicy:
    """Every distinct ``key_header`` value gets its own bucket, sized by its tier's rate."""

    name: str
    mode: RateLimitMode
    key_header: str
    tier_header: str | None
    default_tier: str
    limits: tuple[tuple[str, Rate], ...]  # (tier, rate), sorted by tier
    service: RateLimitService | None = None  # GLOBAL only
    # (tier, tokens per period), sorted by tier; charged with each response's total tokens (GLOBAL only)
    token_limits: tuple[tuple[str, Rate], ...] = ()

    @property
    def tiers(self) -> tuple[str, ...]:
        """Every tier the policy names, in request limits or token budgets, sorted."""
        return tuple(sorted({tier for tier, _ in self.limits + self.token_limits}))


@dataclass(frozen=True, slots=True)
class ExtAuthz:
    backend: str  # a Backend speaking envoy.service.auth.v3 over gRPC
    timeout_ms: int = 200
    fail_open: bool = False
    include_headers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    name: str
    ext_authz: ExtAuthz


# ---------------------------------------------------------------------------------------------------
# Routes


class PathMatchKind(enum.StrEnum):
    PREFIX = "prefix"
    EXACT = "exact"
    REGEX = "regex"


@dataclass(frozen=True, slots=True)
class PathMatch:
    kind: PathMatchKind
    value: str


class HeaderMatchKind(enum.StrEnum):
    EXACT = "exact"
    PREFIX = "prefix"
    REGEX = "regex"
    PRESENT = "present"


@dataclass(frozen=True, slots=True)
class HeaderMatch:
    name: str
    kind: HeaderMatchKind
    value: str = ""  # empty for PRESENT
    invert: bool = False


@dataclass(frozen=True, slots=True)
class ModelMatch:
    """The ``model`` of an OpenAI-style JSON request body (EXACT, PREFIX or REGEX; never PRESENT)."""

    kind: HeaderMatchKind
    value: str


@dataclass(frozen=True, slots=True)
class Match:
    """All conditions must hold. A rule with no matches matches every request (prefix ``/``)."""

    path: PathMatch | None = None
    headers: tuple[HeaderMatch, ...] = ()
    methods: tuple[str, ...] = ()
    model: ModelMatch | None = None


@dataclass(frozen=True, slots=True)
class WeightedBackend:
    backend: str
    weight: int


@dataclass(frozen=True, slots=True)
class Retry:
    attempts: int
    on: tuple[str, ...]  # Envoy retry_on conditions in the user's spelling: 5xx, reset, connect-failure...
    per_try_timeout_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Mirror:
    backend: str
    percent: float


@dataclass(frozen=True, slots=True)
class FaultDelay:
    percent: float
    duration_ms: int


@dataclass(frozen=True, slots=True)
class FaultAbort:
    percent: float
    status: int


@dataclass(frozen=True, slots=True)
class Fault:
    delay: FaultDelay | None = None
    abort: FaultAbort | None = None


@dataclass(frozen=True, slots=True)
class Streaming:
    """Long-lived responses (SSE, chunked): no total timeout, only an idle timeout."""

    idle_timeout_ms: int


@dataclass(frozen=True, slots=True)
class Rule:
    """One routing rule. ``fallback`` backends take traffic when every primary backend fails.

    ``rate_limit`` and ``auth`` are the effective policies for this rule after defaults and
    ``auth: none`` are applied (``None`` means the rule has no such policy).
    """

    name: str  # "<route>/<index>", unique per gateway; stable across unrelated edits
    matches: tuple[Match, ...]
    backends: tuple[WeightedBackend, ...]
    fallback: tuple[str, ...] = ()
    timeout_ms: int | None = None  # None: Envoy's default (15 s) unless streaming
    streaming: Streaming | None = None
    retries: Retry | None = None
    mirror: Mirror | None = None
    fault: Fault | None = None
    request_headers: HeaderOps = field(default_factory=HeaderOps)
    response_headers: HeaderOps = field(default_factory=HeaderOps)
    rate_limit: str | None = None  # RateLimitPolicy name
    auth: str | None = None  # AuthPolicy name


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    gateways: tuple[str, ...]
    hostnames: tuple[str, ...]  # empty means any host ("*")
    rules: tuple[Rule, ...]
    labels: tuple[tuple[str, str], ...] = ()


# ---------------------------------------------------------------------------------------------------
# Gateways (a set of Envoy proxies and what they listen on)


class ListenerProtocol(enum.StrEnum):
    HTTP = "HTTP"
    HTTPS = "HTTPS"


@dataclass(frozen=True, slots=True)
class Listener:
    name: str
    port: int
    address: str = "0.0.0.0"
    protocol: ListenerProtocol = ListenerProtocol.HTTP
    tls_secret: str | None = None  # HTTPS only; certificate delivered over SDS


@dataclass(frozen=True, slots=True)
class ProxySelector:
    """Which Envoy nodes receive a gateway: by ``node.cluster`` or by ``node.id`` (exactly one set).

    ``identities`` are the certificate SANs (URI or DNS) a node must present to be served this gateway
    when the xDS port requires client certificates; with none, no certificate is allowed it.
    """

    cluster: str | None = None
    node_id: str | None = None
    identities: tuple[str, ...] = ()  # sorted, without duplicates

    def matches(self, node_id: str, node_cluster: str) -> bool:
        if self.node_id is not None:
            return self.node_id == node_id
        return self.cluster == node_cluster


class AccessLogFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


DEFAULT_MODEL_BODY_LIMIT = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Tracing:
    """Every request through the gateway as an OpenTelemetry span, exported over OTLP/gRPC.

    ``sampling_percent`` is head sampling for requests without a trace; a request whose
    ``traceparent`` is sampled is always traced.
    """

    collector: str  # a Backend speaking OTLP over gRPC
    sampling_percent: float
    service_name: str


@dataclass(frozen=True, slots=True)
class Gateway:
    name: str
    proxies: ProxySelector
    listeners: tuple[Listener, ...]
    access_log: AccessLogFormat | None = None
    tracing: Tracing | None = None
    auth: str | None = None  # default AuthPolicy for rules that name none
    rate_limit: str | None = None  # default RateLimitPolicy for rules that name none
    model_body_limit: int = DEFAULT_MODEL_BODY_LIMIT  # bytes Envoy buffers to read a request's model


# ---------------------------------------------------------------------------------------------------
# The whole model


@dataclass(frozen=True)
class Model:
    """Everything that compiled. Every name referenced anywhere in here exists in here."""

    gateways: tuple[Gateway, ...] = ()
    backends: tuple[Backend, ...] = ()
    routes: tuple[Route, ...] = ()
    rate_limit_policies: tuple[RateLimitPolicy, ...] = ()
    auth_policies: tuple[AuthPolicy, ...] = ()
    rollout_policies: tuple[RolloutPolicy, ...] = ()

    @cached_property
    def _backends_by_name(self) -> dict[str, Backend]:
        return {b.name: b for b in self.backends}

    def gateway(self, name: str) -> Gateway:
        return next(g for g in self.gateways if g.name == name)

    def backend(self, name: str) -> Backend:
        return self._backends_by_name[name]

    def rate_limit_policy(self, name: str) -> RateLimitPolicy:
        return next(p for p in self.rate_limit_policies if p.name == name)

    def auth_policy(self, name: str) -> AuthPolicy:
        return next(p for p in self.auth_policies if p.name == name)

    @cached_property
    def _rollout_policy_by_route(self) -> dict[str, RolloutPolicy]:
        return {route: p for p in reversed(self.rollout_policies) for route in p.routes}

    def rollout_policy_for(self, route: str) -> RolloutPolicy | None:
        """The policy that covers ``route`` (compile lets at most one cover it); a lookup, not a scan,
        because every rule asks on each build and each ``/status`` (10,000 routes at scale)."""
        return self._rollout_policy_by_route.get(route)

    def gateway_for_node(self, node_id: str, node_cluster: str) -> str | None:
        """The gateway whose ``proxies`` selector matches a node; a node id selector wins over a cluster."""
        by_cluster = None
        for gateway in self.gateways:
            if gateway.proxies.node_id is not None and gateway.proxies.node_id == node_id:
                return gateway.name
            if by_cluster is None and gateway.proxies.matches(node_id, node_cluster):
                by_cluster = gateway.name
        return by_cluster

    def routes_for(self, gateway: str) -> tuple[Route, ...]:
        return tuple(r for r in self.routes if gateway in r.gateways)
