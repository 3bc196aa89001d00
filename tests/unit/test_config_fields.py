"""Each field's validation: the reason code, the field path, and the line of the offending field.

In every case the expected line is the one marked with ``#!``.
"""

from __future__ import annotations

import pytest

from gitxds.config import parse_file
from gitxds.errors import Reason

HEAD = "apiVersion: gitxds.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n"


def document(kind: str, spec: str, name: str = "x") -> str:
    return HEAD.format(kind=kind, name=name) + spec


GATEWAY = "  proxies: {cluster: edge}\n  listeners:\n    - {name: http, port: 10000}\n"
ENDPOINTS = "  endpoints:\n    - {address: 10.0.0.1, port: 8000}\n"
RULE = "  gateways: [edge]\n  rules:\n    - backends: [{name: b}]\n"
RATE = "  key: {header: x-api-key}\n  limits: {default: 10/minute}\n"
SELECTOR_65 = "{" + ", ".join(f"l{i}: v" for i in range(65)) + "}"  # one label over the limit

CASES = [
    # metadata
    ("Backend", ENDPOINTS, "Bad_Name", Reason.INVALID_NAME, "metadata.name"),
    # Gateway tracing: the service name is bounded (253 characters), the sampling a percentage
    (
        "Gateway",
        GATEWAY + "  tracing:\n    collector: otel\n    serviceName: " + "s" * 254 + " #!\n",
        "x",
        Reason.INVALID_NAME,
        "spec.tracing.serviceName",
    ),
    (
        "Gateway",
        GATEWAY + "  tracing:\n    collector: otel\n    samplingPercent: -1 #!\n",
        "x",
        Reason.INVALID_VALUE,
        "spec.tracing.samplingPercent",
    ),
    # Gateway
    (
        "Gateway",
        "  proxies: {cluster: edge, nodeId: n1} #!\n  listeners: [{name: a, port: 1}]\n",
        "x",
        Reason.CONFLICTING_FIELDS,
        "spec.proxies.nodeId",
    ),
    (
        "Gateway",
        "  proxies: {} #!\n  listeners: [{name: a, port: 1}]\n",
        "x",
        Reason.MISSING_FIELD,
        "spec.proxies",
    ),
    (
        "Gateway",
        "  proxies: {cluster: edge}\n  listeners: [] #!\n",
        "x",
        Reason.MISSING_FIELD,
        "spec.listeners",
    ),
    (
        "Gateway",
        GATEWAY + "    - {name: http2, port: 10000} #!\n",
        "x",
        Reason.DUPLICATE_LISTENER_PORT,
        "spec.listeners[1].port",
    ),
    (
        "Gateway",
        GATEWAY + "    - {name: http, port: 10001} #!\n",
        "x",
        Reason.DUPLICATE_NAME,
        "spec.listeners[1].name",
    ),
    (
        "Gateway",
        GATEWAY + "    - {name: s, port: 443, protocol: HTTPS} #!\n",
        "x",
        Reason.CONFLICTING_FIELDS,
        "spec.listeners[1].protocol",
    ),
    (
        "Gateway",
        GATEWAY + "    - {name: s, port: 443, tls: {secretRef: c}} #!\n",
        "x",
        Reason.CONFLICTING_FIELDS,
        "spec.listeners[1].tls",
    ),
    (
        "Gateway",
        GATEWAY + "    - {name: s, port: 70000} #!\n",
        "x",
        Reason.INVALID_PORT,
        "spec.listeners[1].port",
    ),
    (
        "Gateway",
        GATEWAY + "    - {name: s, port: 80, protocol: TCP} #!\n",
        "x",
        Reason.INVALID_VALUE,
        "spec.listeners[1].protocol",
    ),
    (
        "Gateway",
        GATEWAY + "    - {name: s, port: 80, address: localhost} #!\n",
        "x",
        Reason.INVALID_VALUE,
        "spec.listeners[1].address",
    ),
    (
        "Gateway",
        GATEWAY + "  accessLog: {format: xml} #!\n",
        "x",
        Reason.INVALID_VALUE,
        "spec.accessLog.format",
    ),
    ("Gateway", GATEWAY + "  listners: [] #!\n", "x", Reason.UNKNOWN_FIELD, "spec.listners"),
    # Backend
    ("Backend", "  protocol: HTTP2\n", "x", Reason.MISSING_FIELD, "spec"),
    (
        "Backend",
        ENDPOINTS + "  dns: {hostname: a.example, port: 80} #!\n",
        "x",
        Reason.CONFLICTING_FIELDS,
        "spec.dns",
    ),
    ("Backend", "  endpoints: [] #!\n", "x", Reason.MISSING_FIELD, "spec.endpoints"),
    (
        "Backend",
        "  endpoints:\n    - {address: 10.0.0.1, port: 0} #!\n",
        "x",
        Reason.INVALID_PORT,
        "spec.endpoints[0].port",
    ),
    (
        "Backend",
        "  endpoints:\n    - {address: 10.0.0.1, port: '80'} #!\n",
        "x",
        Reason.INVALID_TYPE,
        "spec.endpoints[0].port",
    ),
    (
        "Backend",
        "  endpoints:\n    - {address: 10.0.0.1, port: 80, weight: 0} #!\n",
        "x",
        Reason.INVALID_VALUE,
        "spec.endpoints[0].weight",
    ),
    (
        "Backend",
        ENDPOINTS + "    - {address: 10.0.0.1, port: 8000} #!\n",
        "x",
        Reason.INVALID_VALUE,
        "spec.endpoints[1]",
    ),
    ("Backend", "  dns: {hostname: Bad_Host, port: 80} #!\n", "x", Reason.INVALID_VALUE, "spec.dns.hostname"),
    (
        "Backend",
        "  kubernetes: {service: chat, port: 80, namespce: ai} #!\n",
        "x",
        Reason.UNKNOWN_FIELD,
        "spec.kubernetes.namespce",
    ),
    (
        "Backend",
        "  kubernetes:\n    service: chat\n    port: 80\n    selector: {version: v1, Bad Key: x} #!\n",
        "x",
        Reason.INVALID_VALUE,
        'spec.kubernetes.selector["Bad Key"]',
    ),
    (
        "Backend",
        "  kubernetes:\n    service: chat\n    port: 80\n    selector:\n      version: -v1 #!\n",
        "x",
        Reason.INVALID_VALUE,
        "spec.kubernetes.selector.version",
    ),
    (
        "Backend",
        "  kubernetes:\n    service: chat\n    port: 80\n    selector:\n      version: 2 #!\n",
        "x",
        Reason.INVALID_TYPE,
        "spec.kubernetes.selector.version",
    ),
    (
        "Backend",
        "  kubernetes:\n    service: chat\n    port: 80\n    selector: MANY #!\n".replace(
            "MANY", SELECTOR_65
        ),
        "x",
        Reason.INVALID_VALUE,
        "spec.kubernetes.selector",
    ),
    # a pod selector on a Backend that is not Kubernetes
    ("Backend", ENDPOINTS + "  selector: {version: v1} #!\n", "x", Reason.UNKNOWN_FIELD, "spec.selector"),
    (
        "Backend",
        "  dns: {hostname: a.example, port: 80, selector: {version: v1}} #!\n",
        "x",
        Reason.UNKNOWN_FIELD,
        "spec.dns.selector",
    ),
    ("Backend", ENDPOINTS + "  protocol: http2 #!\n", "x", Reason.INVALID_VALUE, "spec.protocol"),
    ("Backend", ENDPOINTS + "  connectTimeout: 5 #!\n", "x", Reason.INVALID_DURATION, "spec.connectTimeout"),
    ("Backend", ENDPOINTS + "  connectTimeout: 0s #!\n", "x", Reason.INVALID_DURATION, "spec.connectTimeout"),
    ("Backend", ENDPOINTS + "  hashOn: {header: x-user} #!\n", "x", Reason.CONFLICTING_FIELDS, "spec.hashOn"),
    ("Backend", ENDPOINTS + "  loadBalancer: RING_HASH #!\n", "x", Reason.MISSING_FIELD, "spec.loadBalancer"),
    (
        "Backend",
        ENDPOINTS + "  circuitBreaker: {maxConnections: -1} #!\n",
        "x",
        Reason.INVALID_VALUE,
        "spec.circuitBreaker.maxConnections",
    ),
    (
        "Backend",
        ENDPOINTS + "  outlierDetection: {maxEjectionPercent: 101} #!\n",
        "x",
        Reason.INVALID_VALUE,
        "spec.outlierDetection.maxEjectionPercent",
    ),
    (
        "Backend",
        ENDPOINTS + "  healthCheck: {path: healthz} #!\n",
        "x",
        Reason.INVALID_VALUE,
        "spec.healthCheck.path",
    ),
    (
        "Backend",
        ENDPOINTS + "  healthCheck: {path: /h, interval: soon} #!\n",
        "x",
        Reason.INVALID_DURATION,
        "spec.healthCheck.interval",
    ),
    (
        "Backend",
        ENDPOINTS + "  requestHeaders:\n    set:\n      authorization: {secret: k} #!\n",
        "x",
        Reason.INVALID_VALUE,
        "spec.requestHeaders.set.authorization",
    ),
    (
        "Backend",
        ENDPOINTS + "  requestHeaders:\n    set: {x-a: b}\n    remove: [x-a] #!\n",
        "x",
        Reason.CONFLICTING_FIELDS,
        "spec.requestHeaders.remove",
    ),
    (
        "Backend",
        ENDPOINTS + "  requestHeaders:\n    remove: [':path'] #!\n",
        "x",
        Reason.INVALID_VALUE,
        "spec.requestHeaders.remove[0]",
    ),
    (
        "Backend",
        ENDPOINTS + "  requestHeaders:\n    add:\n      'bad header': v #!\n",
        "x",
        Reason.INVALID_VALUE,
        'spec.requestHeaders.add["bad header"]',
    ),
    # Route
    ("Route", "  rules:\n    - backends: [{name: b}]\n", "x", Reason.ROUTE_WITHOUT_GATEWAY, "spec.gateways"),
    ("Route", "  gateways: [edge]\n  rules: [] #!\n", "x", Reason.MISSING_FIELD, "spec.rules"),
    (
        "Route",
        "  gateways: [edge]\n  hostnames: ['API.example'] #!\n" + RULE[18:],
        "x",
        Reason.INVALID_VALUE,
        "spec.hostnames[0]",
    ),
    (
        "Route",
        "  gateways: [edge]\n  rules:\n    - backends: [] #!\n",
        "x",
        Reason.MISSING_FIELD,
        "spec.rules[0].backends",
    ),
    (
        "Route",
        "  gateways: [edge]\n  rules:\n    - backends:\n        - {name: b, weight: -5} #!\n",
        "x",
        Reason.NEGATIVE_WEIGHT,
        "spec.rules[0].backends[0].weight",
    ),
    (
        "Route",
        "  gateways: [edge]\n  rules:\n    - backends: [{name: b, weight: 0}] #!\n",
        "x",
        Reason.ALL_WEIGHTS_ZERO,
        "spec.rules[0].backends",
    ),
    (
        "Route",
        "  gateways: [edge]\n  rules:\n    - backends: [{name: b, wieght: 1}] #!\n",
        "x",
        Reason.UNKNOWN_FIELD,
        "spec.rules[0].backends[0].wieght",
    ),
    (
        "Route",
        RULE + "      matches:\n        - path: {prefix: /a, exact: /a} #!\n",
        "x",
        Reason.CONFLICTING_FIELDS,
        "spec.rules[0].matches[0].path.exact",
    ),
    (
        "Route",
        RULE + "      matches:\n        - path: {prefix: a} #!\n",
        "x",
        Reason.INVALID_VALUE,
        "spec.rules[0].matches[0].path.prefix",
    ),
    (
        "Route",
        RULE + "      matches:\n        - path: {regex: '/(?=v1)'} #!\n",
        "x",
        Reason.INVALID_REGEX,
        "spec.rules[0].matches[0].path.regex",
    ),
    (
        "Route",
        RULE + "      matches:\n        - path: {regex: '/(a'} #!\n",
        "x",
        Reason.INVALID_REGEX,
        "spec.rules[0].matches[0].path.regex",
    ),
    (
        "Route",
        RULE + "      matches:\n        - headers: [{name: x-a, regex: '(a)\\1'}] #!\n",
        "x",
        Reason.INVALID_REGEX,
        "spec.rules[0].matches[0].headers[0].regex",
    ),
    (
        "Route",
        RULE + "      matches:\n        - headers: [{name: x-a}] #!\n",
        "x",
        Reason.MISSING_FIELD,
        "spec.rules[0].matches[0].headers[0]",
    ),
    (
        "Route",
        RULE + "      matches:\n        - headers: [{name: x-a, present: false}] #!\n",
        "x",
        Reason.INVALID_VALUE,
        "spec.rules[0].matches[0].headers[0].present",
    ),
    (
        "Route",
        RULE + "      matches:\n        - methods: [FETCH] #!\n",
        "x",
        Reason.INVALID_VALUE,
        "spec.rules[0].matches[0].methods[0]",
    ),
    ("Route", RULE + "      timeout: 1x #!\n", "x", Reason.INVALID_DURATION, "spec.rules[0].timeout"),
    (
        "Route",
        RULE + "      streaming: {idleTimeout: 30s}\n      timeout: 10s #!\n",
        "x",
        Reason.CONFLICTING_FIELDS,
        "spec.rules[0].timeout",
    ),
    (
        "Route",
        RULE + "      retries: {attempts: 2, on: [5xx, timeout]} #!\n",
        "x",
        Reason.INVALID_VALUE,
        "spec.rules[0].retries.on[1]",
    ),
    (
        "Route",
        RULE + "      retries: {attempts: 0} #!\n",
        "x",
        Reason.INVALID_VALUE,
        "spec.rules[0].retries.attempts",
    ),
    (
        "Route",
        RULE + "      mirror: {backend: b, percent: 150} #!\n",
        "x",
        Reason.INVALID_VALUE,
        "spec.rules[0].mirror.percent",
    ),
    (
        "Route",
        RULE + "      fault: {abort: {percent: 1, status: 600}} #!\n",
        "x",
        Reason.INVALID_VALUE,
        "spec.rules[0].fault.abort.status",
    ),
    ("Route", RULE + "      fault: {} #!\n", "x", Reason.MISSING_FIELD, "spec.rules[0].fault"),
    (
        "Route",
        RULE + "      fault: {delay: {percent: 5}} #!\n",
        "x",
        Reason.MISSING_FIELD,
        "spec.rules[0].fault.delay.duration",
    ),
    (
        "Route",
        RULE + "      headers:\n        response:\n          set: {x-k: {secretRef: k}} #!\n",
        "x",
        Reason.INVALID_VALUE,
        "spec.rules[0].headers.response.set.x-k",
    ),
    ("Route", RULE + "      name: Main #!\n", "x", Reason.INVALID_NAME, "spec.rules[0].name"),
    (
        "Route",
        RULE + "      name: main\n    - name: main #!\n      backends: [{name: b}]\n",
        "x",
        Reason.DUPLICATE_NAME,
        "spec.rules[1].name",
    ),
    # RateLimitPolicy
    ("RateLimitPolicy", RATE + "  mode: global #!\n", "x", Reason.CONFLICTING_FIELDS, "spec.mode"),
    (
        "RateLimitPolicy",
        RATE + "  service: {backend: rls} #!\n",
        "x",
        Reason.CONFLICTING_FIELDS,
        "spec.service",
    ),
    (
        "RateLimitPolicy",
        "  key: {header: k}\n  limits: {free: 10/fortnight} #!\n",
        "x",
        Reason.INVALID_RATE,
        "spec.limits.free",
    ),
    (
        "RateLimitPolicy",
        "  key: {header: k}\n  tier: {header: t, default: gold} #!\n  limits: {free: 1/second}\n",
        "x",
        Reason.INVALID_VALUE,
        "spec.tier.default",
    ),
    (
        "RateLimitPolicy",
        "  key: {header: k}\n  limits: {default: 1/second, pro: 5/second} #!\n",
        "x",
        Reason.CONFLICTING_FIELDS,
        "spec.limits",
    ),
    ("RateLimitPolicy", "  limits: {default: 1/second}\n", "x", Reason.MISSING_FIELD, "spec.key"),
    ("RateLimitPolicy", RATE, "none", Reason.INVALID_NAME, "metadata.name"),
    # AuthPolicy
    (
        "AuthPolicy",
        "  extAuthz: {backend: authz, timeout: fast} #!\n",
        "x",
        Reason.INVALID_DURATION,
        "spec.extAuthz.timeout",
    ),
    (
        "AuthPolicy",
        "  extAuthz: {backend: authz, failOpen: 'yes'} #!\n",
        "x",
        Reason.INVALID_TYPE,
        "spec.extAuthz.failOpen",
    ),
    ("AuthPolicy", "  extAuth: {backend: authz} #!\n", "x", Reason.UNKNOWN_FIELD, "spec.extAuth"),
]


def expected_line(text: str, path: str) -> int:
    marked = [number for number, line in enumerate(text.splitlines(), start=1) if "#!" in line]
    if marked:
        return marked[0]
    return 4 if path == "metadata.name" else 5  # the key itself when nothing is marked


@pytest.mark.parametrize(
    ("kind", "spec", "name", "reason", "path"), CASES, ids=[c[4] + "-" + c[3] for c in CASES]
)
def test_field_problem_is_reported_on_its_line(
    kind: str, spec: str, name: str, reason: Reason, path: str
) -> None:
    text = document(kind, spec, name)
    result = parse_file("f.yaml", text)
    found = [(d.path, d.reason) for d in result.diagnostics]
    assert (path, reason) in found, found
    diagnostic = next(d for d in result.diagnostics if (d.path, d.reason) == (path, reason))
    assert diagnostic.line == expected_line(text, path)
    assert result.documents == ()
    assert [r.kind for r in result.rejected] == [kind]


@pytest.mark.parametrize(
    "spec",
    [
        ENDPOINTS + "  selector: {version: v1}\n",
        "  dns: {hostname: a.example, port: 80, selector: {version: v1}}\n",
        "  endpoints:\n    - {address: 10.0.0.1, port: 8000, selector: {version: v1}}\n",
    ],
)
def test_a_selector_outside_kubernetes_says_where_it_belongs(spec: str) -> None:
    [diagnostic] = parse_file("f.yaml", document("Backend", spec)).diagnostics
    assert diagnostic.reason is Reason.UNKNOWN_FIELD
    assert 'unknown field "selector" (it belongs in spec.kubernetes)' in diagnostic.message


def test_a_valid_selector_loads() -> None:
    text = document(
        "Backend",
        "  kubernetes:\n    service: chat\n    port: 80\n"
        "    selector: {version: v2, app.kubernetes.io/name: chat, example.com/canary: '', tier: gold}\n",
    )
    assert parse_file("f.yaml", text).diagnostics == ()
