"""A valid config compiles to the IR with every field carried over and names sorted."""

from __future__ import annotations

from pathlib import Path

from gitxds import ir
from gitxds.compile import compile_directory

CONFIG = """\
apiVersion: gitxds.dev/v1alpha1
kind: Gateway
metadata: {name: edge}
spec:
  proxies: {cluster: edge}
  listeners:
    - {name: http, port: 10000}
    - {name: https, port: 10443, address: 127.0.0.1, protocol: HTTPS, tls: {secretRef: edge-cert}}
  accessLog: {format: json}
  auth: api-keys
  rateLimit: tiered
---
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {name: chat-v2, labels: {version: v2, model: chat}}
spec:
  endpoints:
    - {address: 10.0.0.12, port: 8000}
    - {address: 10.0.0.13, port: 8000, priority: 1, weight: 3}
  protocol: HTTP2
  tls: {sni: api.provider.example}
  connectTimeout: 1.5s
  loadBalancer: RING_HASH
  hashOn: {header: X-Session-Id}
  circuitBreaker: {maxConnections: 100, maxPendingRequests: 50, maxRequests: 200, maxRetries: 3}
  outlierDetection: {consecutive5xx: 5, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 50}
  healthCheck: {path: /healthz, interval: 5s, timeout: 1s, healthyThreshold: 2, unhealthyThreshold: 3}
  requestHeaders:
    set: {authorization: {secretRef: provider-key}, x-team: ai}
    add: {x-trace: "1"}
    remove: [x-debug]
---
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {name: chat-v1}
spec:
  dns: {hostname: chat.internal, port: 80, logical: true}
---
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {name: provider-b}
spec:
  kubernetes: {service: provider, port: 8080, selector: {version: v2, app: provider}}
---
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {name: authz}
spec: {endpoints: [{address: 127.0.0.1, port: 9001}], protocol: GRPC}
---
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {name: rls}
spec: {endpoints: [{address: 127.0.0.1, port: 9002}], protocol: GRPC}
---
apiVersion: gitxds.dev/v1alpha1
kind: Route
metadata: {name: chat}
spec:
  gateways: [edge]
  hostnames: ["api.example.com", "*.example.org"]
  rules:
    - matches:
        - path: {prefix: /v1/chat/completions}
          headers: [{name: x-model, exact: chat-large}, {name: x-beta, present: true, invert: true}]
          methods: [POST]
      backends:
        - {name: chat-v1, weight: 90}
        - {name: chat-v2, weight: 10}
      fallback: [provider-b]
      streaming: {idleTimeout: 30s}
      retries: {attempts: 2, on: [5xx, reset, connect-failure], perTryTimeout: 30s}
      mirror: {backend: chat-v2, percent: 5}
      fault: {delay: {percent: 10, duration: 2s}, abort: {percent: 1.5, status: 503}}
      headers: {request: {set: {x-route: chat}}, response: {remove: [server]}}
      rateLimit: premium
    - name: health
      matches: [{path: {exact: /healthz}}, {path: {regex: "/v[0-9]+/health"}}]
      backends: [{name: chat-v1}]
      timeout: 2s
      auth: none
      rateLimit: none
    - backends: [{name: chat-v1}]
---
apiVersion: gitxds.dev/v1alpha1
kind: RateLimitPolicy
metadata: {name: tiered}
spec:
  key: {header: x-api-key}
  tier: {header: x-tier, default: free}
  limits: {pro: 200/minute, free: 20/minute}
---
apiVersion: gitxds.dev/v1alpha1
kind: RateLimitPolicy
metadata: {name: premium}
spec:
  mode: global
  key: {header: x-api-key}
  limits: {default: 1000/hour}
  service: {backend: rls, domain: ai}
---
apiVersion: gitxds.dev/v1alpha1
kind: AuthPolicy
metadata: {name: api-keys}
spec:
  extAuthz: {backend: authz, timeout: 250ms, failOpen: true, includeHeaders: [x-api-key]}
"""


def compiled(tmp_path: Path) -> ir.Model:
    (tmp_path / "all.yaml").write_text(CONFIG)
    result = compile_directory(tmp_path)
    assert result.diagnostics == ()
    assert result.dropped == ()
    return result.model


def test_every_kind_compiles_sorted_by_name(tmp_path: Path) -> None:
    model = compiled(tmp_path)
    assert [b.name for b in model.backends] == ["authz", "chat-v1", "chat-v2", "provider-b", "rls"]
    assert [p.name for p in model.rate_limit_policies] == ["premium", "tiered"]
    assert [g.name for g in model.gateways] == ["edge"]
    assert [r.name for r in model.routes] == ["chat"]
    assert [p.name for p in model.auth_policies] == ["api-keys"]


def test_gateway(tmp_path: Path) -> None:
    assert compiled(tmp_path).gateway("edge") == ir.Gateway(
        name="edge",
        proxies=ir.ProxySelector(cluster="edge"),
        listeners=(
            ir.Listener("http", 10000),
            ir.Listener("https", 10443, "127.0.0.1", ir.ListenerProtocol.HTTPS, tls_secret="edge-cert"),
        ),
        access_log=ir.AccessLogFormat.JSON,
        auth="api-keys",
        rate_limit="tiered",
    )


def test_backend_with_every_field(tmp_path: Path) -> None:
    assert compiled(tmp_path).backend("chat-v2") == ir.Backend(
        name="chat-v2",
        endpoints=ir.StaticEndpoints(
            (ir.Endpoint("10.0.0.12", 8000), ir.Endpoint("10.0.0.13", 8000, priority=1, weight=3))
        ),
        labels=(("model", "chat"), ("version", "v2")),
        protocol=ir.Protocol.HTTP2,
        tls=ir.UpstreamTls(sni="api.provider.example"),
        connect_timeout_ms=1500,
        load_balancer=ir.LoadBalancer.RING_HASH,
        hash_on_header="x-session-id",
        circuit_breaker=ir.CircuitBreaker(100, 50, 200, 3),
        outlier_detection=ir.OutlierDetection(5, 10_000, 30_000, 50),
        health_check=ir.HealthCheck("/healthz", 5000, 1000, 2, 3),
        request_headers=ir.HeaderOps(
            set=(("authorization", ir.SecretRef("provider-key")), ("x-team", "ai")),
            add=(("x-trace", "1"),),
            remove=("x-debug",),
        ),
    )


def test_endpoint_sources_and_defaults(tmp_path: Path) -> None:
    model = compiled(tmp_path)
    assert model.backend("chat-v1").endpoints == ir.DnsEndpoints("chat.internal", 80, logical=True)
    assert model.backend("provider-b").endpoints == ir.KubernetesEndpoints(
        "provider", "default", 8080, selector=(("app", "provider"), ("version", "v2"))
    )
    authz = model.backend("authz")
    assert (authz.protocol, authz.connect_timeout_ms, authz.load_balancer) == (
        ir.Protocol.GRPC,
        5000,
        ir.LoadBalancer.ROUND_ROBIN,
    )


def test_rule_with_every_field(tmp_path: Path) -> None:
    first = compiled(tmp_path).routes[0].rules[0]
    assert first == ir.Rule(
        name="chat/0",
        matches=(
            ir.Match(
                path=ir.PathMatch(ir.PathMatchKind.PREFIX, "/v1/chat/completions"),
                headers=(
                    ir.HeaderMatch("x-model", ir.HeaderMatchKind.EXACT, "chat-large"),
                    ir.HeaderMatch("x-beta", ir.HeaderMatchKind.PRESENT, "", invert=True),
                ),
                methods=("POST",),
            ),
        ),
        backends=(ir.WeightedBackend("chat-v1", 90), ir.WeightedBackend("chat-v2", 10)),
        fallback=("provider-b",),
        streaming=ir.Streaming(30_000),
        retries=ir.Retry(2, ("5xx", "reset", "connect-failure"), 30_000),
        mirror=ir.Mirror("chat-v2", 5.0),
        fault=ir.Fault(ir.FaultDelay(10.0, 2000), ir.FaultAbort(1.5, 503)),
        request_headers=ir.HeaderOps(set=(("x-route", "chat"),)),
        response_headers=ir.HeaderOps(remove=("server",)),
        rate_limit="premium",
        auth="api-keys",
    )


def test_rule_names_and_policy_defaults(tmp_path: Path) -> None:
    route = compiled(tmp_path).routes[0]
    assert route.hostnames == ("api.example.com", "*.example.org")
    health, catch_all = route.rules[1], route.rules[2]
    assert (health.name, health.auth, health.rate_limit, health.timeout_ms) == (
        "chat/health",
        None,
        None,
        2000,
    )
    assert health.matches[1].path == ir.PathMatch(ir.PathMatchKind.REGEX, "/v[0-9]+/health")
    assert (catch_all.name, catch_all.matches, catch_all.auth, catch_all.rate_limit) == (
        "chat/2",
        (),
        "api-keys",
        "tiered",
    )


def test_policies(tmp_path: Path) -> None:
    model = compiled(tmp_path)
    assert model.rate_limit_policy("tiered") == ir.RateLimitPolicy(
        name="tiered",
        mode=ir.RateLimitMode.LOCAL,
        key_header="x-api-key",
        tier_header="x-tier",
        default_tier="free",
        limits=(("free", ir.Rate(20, 60)), ("pro", ir.Rate(200, 60))),
    )
    premium = model.rate_limit_policy("premium")
    assert (premium.mode, premium.tier_header, premium.default_tier, premium.service) == (
        ir.RateLimitMode.GLOBAL,
        None,
        "default",
        ir.RateLimitService("rls", "ai"),
    )
    assert premium.limits == (("default", ir.Rate(1000, 3600)),)
    assert model.auth_policy("api-keys").ext_authz == ir.ExtAuthz("authz", 250, True, ("x-api-key",))


def test_compiling_twice_gives_equal_models(tmp_path: Path) -> None:
    assert compiled(tmp_path) == compiled(tmp_path)
