"""Property: every valid config, across the whole schema, compiles cleanly into a static bootstrap that
Envoy itself accepts (``envoy --mode validate``).

Configs are generated as CONFIG.md documents (the YAML a user writes): backends with every endpoint
source and policy, gateways with HTTP and HTTPS listeners, local and global rate limits, external
authorization, and routes using every match kind and every rule policy.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gitxds.compile import compile_directory
from gitxds.config.schema_route import RETRY_ON
from gitxds.translators.xds import static_bootstrap
from harness.configs import backend_doc, document, gateway_doc, route_doc, write_config
from harness.envoy import validate_bootstrap

pytestmark = pytest.mark.e2e

GATEWAY = "edge"
CERT_SECRET = "edge-cert"
HEADER_SECRET = "provider-key"
HEADER_NAMES = ("x-tenant", "x-model", "x-api-key", "x-route", "x-trace", "authorization")
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
SAFE_REGEXES = ("[a-z]+-v[0-9]+", "chat-(large|small)", ".*", "[0-9]{2,4}")


def durations(low_ms: int = 1, high_ms: int = 120_000) -> st.SearchStrategy[str]:
    return st.integers(low_ms, high_ms).map(
        lambda ms: f"{ms // 1000}s" if ms >= 1000 and ms % 1000 == 0 else f"{ms}ms"
    )


percents = st.integers(0, 1000).map(lambda tenths: tenths / 10)


def header_ops(*, secrets: bool) -> st.SearchStrategy[dict[str, Any]]:
    plain = st.sampled_from(("a", "b-1", "gitxds", "42"))
    values = st.one_of(plain, st.just({"secretRef": HEADER_SECRET})) if secrets else plain

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        names = draw(st.permutations(HEADER_NAMES))
        n_set, n_add, n_remove = draw(st.tuples(*(st.integers(0, 2),) * 3))
        ops: dict[str, Any] = {}
        if n_set:
            ops["set"] = {name: draw(values) for name in names[:n_set]}
        if n_add:
            ops["add"] = {name: draw(values) for name in names[n_set : n_set + n_add]}
        if n_remove:
            ops["remove"] = list(names[n_set + n_add : n_set + n_add + n_remove])
        return ops

    return build()


def optional(draw: st.DrawFn, strategy: st.SearchStrategy[Any]) -> Any:
    return draw(strategy) if draw(st.booleans()) else None


@st.composite
def endpoint_sources(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(("endpoints", "dns", "kubernetes")))
    if kind == "dns":
        host = draw(st.sampled_from(("api.provider.example", "models.internal", "localhost")))
        return {
            "dns": {"hostname": host, "port": draw(st.integers(1, 65535)), "logical": draw(st.booleans())}
        }
    if kind == "kubernetes":
        return {"kubernetes": {"service": "chat", "namespace": "models", "port": draw(st.integers(1, 65535))}}
    count = draw(st.integers(1, 3))
    ports = draw(st.lists(st.integers(1, 65535), min_size=count, max_size=count, unique=True))
    endpoints = []
    for port in ports:
        endpoint: dict[str, Any] = {
            "address": draw(st.sampled_from(("127.0.0.1", "10.0.0.12", "::1"))),
            "port": port,
        }
        if draw(st.booleans()):
            endpoint["priority"] = draw(st.integers(0, 2))
        if draw(st.booleans()):
            endpoint["weight"] = draw(st.integers(1, 100))
        endpoints.append(endpoint)
    return {"endpoints": endpoints}


@st.composite
def backend_specs(draw: st.DrawFn, *, grpc: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = draw(endpoint_sources())
    spec["protocol"] = "GRPC" if grpc else draw(st.sampled_from(("HTTP1", "HTTP2", "GRPC")))
    if draw(st.booleans()):
        spec["tls"] = {"sni": "api.provider.example"} if draw(st.booleans()) else {}
    if draw(st.booleans()):
        spec["connectTimeout"] = draw(durations(1, 10_000))
    balancer = draw(st.sampled_from(("ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "RING_HASH")))
    spec["loadBalancer"] = balancer
    if balancer == "RING_HASH":
        spec["hashOn"] = {"header": draw(st.sampled_from(HEADER_NAMES))}
    breaker_fields = ("maxConnections", "maxPendingRequests", "maxRequests", "maxRetries")
    if draw(st.booleans()):
        spec["circuitBreaker"] = {
            f: draw(st.integers(0, 1000)) for f in breaker_fields if draw(st.booleans())
        }
    if draw(st.booleans()):
        detection: dict[str, Any] = {}
        if draw(st.booleans()):
            detection["consecutive5xx"] = draw(st.integers(1, 20))
        if draw(st.booleans()):
            detection["interval"] = draw(durations(1, 60_000))
        if draw(st.booleans()):
            detection["baseEjectionTime"] = draw(durations(1, 300_000))
        if draw(st.booleans()):
            detection["maxEjectionPercent"] = draw(st.integers(0, 100))
        spec["outlierDetection"] = detection
    if draw(st.booleans()):
        check: dict[str, Any] = {"path": draw(st.sampled_from(("/healthz", "/ready", "/v1/models")))}
        for name, value in (
            ("interval", durations(1, 60_000)),
            ("timeout", durations(1, 10_000)),
            ("healthyThreshold", st.integers(1, 5)),
            ("unhealthyThreshold", st.integers(1, 5)),
        ):
            if draw(st.booleans()):
                check[name] = draw(value)
        spec["healthCheck"] = check
    if draw(st.booleans()):
        spec["requestHeaders"] = draw(header_ops(secrets=True))
    return spec


@st.composite
def matches(draw: st.DrawFn, base: str) -> dict[str, Any]:
    match: dict[str, Any] = {}
    headers: list[dict[str, Any]] = []
    kind = draw(st.sampled_from(("prefix", "exact", "regex", None)))
    if kind == "regex":
        match["path"] = {"regex": f"{base}/{draw(st.sampled_from(SAFE_REGEXES))}"}
    elif kind is not None:
        match["path"] = {kind: base}
    else:  # no path: a header unique to this match keeps it distinct from every other match
        headers.append({"name": "x-match", "exact": base})
    for name in draw(st.lists(st.sampled_from(HEADER_NAMES), max_size=2, unique=True)):
        header_kind = draw(st.sampled_from(("exact", "prefix", "regex", "present")))
        value: Any = True if header_kind == "present" else draw(st.sampled_from(SAFE_REGEXES[:2]))
        header = {"name": name, header_kind: value}
        if draw(st.booleans()):
            header["invert"] = True
        headers.append(header)
    if headers:
        match["headers"] = headers
    methods = draw(st.lists(st.sampled_from(METHODS), max_size=2, unique=True))
    if methods:
        match["methods"] = methods
    return match


@st.composite
def rules(draw: st.DrawFn, base: str, backends: list[str], policies: dict[str, str | None]) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    count = draw(st.integers(1, 2))
    rule["matches"] = [draw(matches(f"{base}/m{index}")) for index in range(count)]
    primaries = draw(st.lists(st.sampled_from(backends), min_size=1, max_size=3, unique=True))
    weights = [draw(st.integers(0, 100)) for _ in primaries]
    if not any(weights):
        weights[0] = 1
    rule["backends"] = [
        {"name": name, "weight": weight} for name, weight in zip(primaries, weights, strict=True)
    ]
    others = [name for name in backends if name not in primaries]
    if others and draw(st.booleans()):
        rule["fallback"] = draw(st.lists(st.sampled_from(others), min_size=1, max_size=2, unique=True))
    if draw(st.booleans()):
        rule["streaming"] = {"idleTimeout": draw(durations(1, 600_000))}
    elif draw(st.booleans()):
        rule["timeout"] = draw(st.one_of(durations(0, 600_000), st.just("0s")))
    if draw(st.booleans()):
        retries: dict[str, Any] = {"attempts": draw(st.integers(1, 5))}
        if draw(st.booleans()):
            retries["on"] = draw(st.lists(st.sampled_from(RETRY_ON), min_size=1, max_size=4, unique=True))
        if draw(st.booleans()):
            retries["perTryTimeout"] = draw(durations(1, 60_000))
        rule["retries"] = retries
    if draw(st.booleans()):
        rule["mirror"] = {"backend": draw(st.sampled_from(backends)), "percent": draw(percents)}
    if draw(st.booleans()):
        delay = {"percent": draw(percents), "duration": draw(durations(1, 10_000))}
        abort = {"percent": draw(percents), "status": draw(st.integers(200, 599))}
        rule["fault"] = draw(
            st.sampled_from(({"delay": delay}, {"abort": abort}, {"delay": delay, "abort": abort}))
        )
    if draw(st.booleans()):
        headers = {}
        if draw(st.booleans()):
            headers["request"] = draw(header_ops(secrets=True))
        if draw(st.booleans()):
            headers["response"] = draw(header_ops(secrets=False))
        rule["headers"] = headers
    for field, name in policies.items():
        if name is not None and draw(st.booleans()):
            rule[field] = draw(st.sampled_from((name, "none")))
    return rule


@st.composite
def configs(draw: st.DrawFn) -> list[dict[str, Any]]:
    backend_names = [f"model-{index}" for index in range(draw(st.integers(1, 4)))]
    documents = [backend_doc(name, [], **draw(backend_specs())) for name in backend_names]

    policies: dict[str, str | None] = {"rateLimit": None, "auth": None}
    if draw(st.booleans()):
        policies["rateLimit"] = "tiered"
        spec: dict[str, Any] = {"key": {"header": "x-api-key"}}
        if draw(st.booleans()):
            spec["tier"] = {"header": "x-tier", "default": "free"}
            spec["limits"] = {"free": "20/minute", "pro": f"{draw(st.integers(1, 10_000))}/hour"}
        else:
            spec["limits"] = {"default": f"{draw(st.integers(1, 1000))}/second"}
        if draw(st.booleans()):
            spec["mode"] = "global"
            spec["service"] = {"backend": "ratelimit", "domain": "gitxds"}
            documents.append(backend_doc("ratelimit", [], **draw(backend_specs(grpc=True))))
        documents.append(document("RateLimitPolicy", "tiered", spec))
    if draw(st.booleans()):
        policies["auth"] = "api-keys"
        ext_authz: dict[str, Any] = {"backend": "authz"}
        if draw(st.booleans()):
            ext_authz["timeout"] = draw(durations(1, 5000))
        ext_authz["failOpen"] = draw(st.booleans())
        ext_authz["includeHeaders"] = draw(st.lists(st.sampled_from(HEADER_NAMES), max_size=2, unique=True))
        documents.append(backend_doc("authz", [], **draw(backend_specs(grpc=True))))
        documents.append(document("AuthPolicy", "api-keys", {"extAuthz": ext_authz}))
    for doc in documents:  # backend_doc's empty endpoint list stays only where no other source was drawn
        if doc["kind"] == "Backend" and "endpoints" in doc["spec"] and not doc["spec"]["endpoints"]:
            del doc["spec"]["endpoints"]

    listener_count = draw(st.integers(1, 2))
    gateway = gateway_doc(GATEWAY, 10000)
    listeners = []
    for index in range(listener_count):
        listener: dict[str, Any] = {
            "name": f"l{index}",
            "port": 10000 + index,
            "address": draw(st.sampled_from(("127.0.0.1", "0.0.0.0"))),
        }
        if draw(st.booleans()):
            listener["protocol"] = "HTTPS"
            listener["tls"] = {"secretRef": CERT_SECRET}
        listeners.append(listener)
    gateway["spec"]["listeners"] = listeners
    if draw(st.booleans()):
        gateway["spec"]["accessLog"] = {"format": draw(st.sampled_from(("text", "json")))}
    for field, name in policies.items():
        if name is not None and draw(st.booleans()):
            gateway["spec"][field] = name
    documents.append(gateway)

    hostnames = [[], ["api.example.com"], ["*.eu.example.com", "eu.example.com"]]
    for index in range(draw(st.integers(1, 2))):
        base = f"/r{index}"
        route_rules = [
            draw(rules(f"{base}/{n}", backend_names, policies)) for n in range(draw(st.integers(1, 3)))
        ]
        documents.append(
            route_doc(
                f"route-{index}", route_rules, gateways=[GATEWAY], hostnames=draw(st.sampled_from(hostnames))
            )
        )
    return documents


@pytest.fixture(scope="module")
def certificate_pem(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A self-signed certificate and its key in one PEM text, as the secret store holds it."""
    directory = tmp_path_factory.mktemp("tls")
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=edge.example.com",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return cert.read_text() + key.read_text()


# No shrinking (each example runs Envoy, so shrinking a failure would take minutes) and no example
# database in the working tree: a failure prints the whole generated config instead.
@settings(
    max_examples=25,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)
@given(documents=configs())
def test_every_valid_config_renders_a_bootstrap_envoy_accepts(documents, certificate_pem):
    with tempfile.TemporaryDirectory(prefix="gitxds-property-") as scratch:
        config_dir = Path(scratch) / "config"
        write_config(config_dir, documents)
        result = compile_directory(config_dir)
        assert not result.diagnostics, "\n".join(str(d) for d in result.diagnostics)
        assert not result.dropped
        secrets = {CERT_SECRET: certificate_pem, HEADER_SECRET: "Bearer sk-test"}
        bootstrap = static_bootstrap(result.model, GATEWAY, secrets=secrets, admin_port=0)
        accepted, output = validate_bootstrap(bootstrap, Path(scratch))
        assert accepted, output


def test_the_validator_rejects_what_envoy_rejects(tmp_path):
    """The property above can fail: Envoy's validate mode refuses a broken bootstrap."""
    broken = {"static_resources": {"clusters": [{"name": "chat", "connect_timeout": "-1s"}]}}
    accepted, output = validate_bootstrap(broken, tmp_path)
    assert not accepted
    assert "invalid duration" in output.lower()
