"""``gitxds export istio``: what users get for each gitxds feature, and what they are told is missing."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitxds import ir
from gitxds.cli import main
from gitxds.errors import Severity
from gitxds.translators.istio import KIND_ORDER, ExportResult, export

from .crd_validator import CrdValidator
from .golden_cases import GOLDEN_DIR
from .ir_samples import chat_model


def _one(result: ExportResult, kind: str, name: str) -> dict[str, Any]:
    [document] = [d for d in result.documents if d["kind"] == kind and d["metadata"]["name"] == name]
    return document


def _paths(result: ExportResult, severity: Severity) -> set[str]:
    return {f"{f.kind}/{f.name} {f.path}" for f in result.findings if f.severity is severity}


def test_versions_of_one_kubernetes_service_become_subsets_of_one_host() -> None:
    result = export(chat_model(), namespace="ai")
    rule = _one(result, "DestinationRule", "chat")
    assert rule["spec"]["host"] == "chat.models.svc.cluster.local"
    assert [(s["name"], s["labels"]["version"]) for s in rule["spec"]["subsets"]] == [
        ("v1", "v1"),
        ("v2", "v2"),
    ]
    route = _one(result, "VirtualService", "chat")["spec"]["http"][0]["route"]
    assert [(r["destination"]["subset"], r["weight"]) for r in route] == [("v1", 90), ("v2", 10)]


def test_every_document_carries_the_namespace_and_output_is_ordered_by_kind_then_name() -> None:
    result = export(chat_model(), namespace="ai")
    assert {d["metadata"]["namespace"] for d in result.documents} == {"ai"}
    keys = [(KIND_ORDER.index(d["kind"]), d["metadata"]["name"]) for d in result.documents]
    assert keys == sorted(keys)
    assert export(chat_model(), namespace="ai") == result


def test_external_provider_gets_a_service_entry_and_tls_origination() -> None:
    result = export(chat_model())
    entry = _one(result, "ServiceEntry", "provider-b")["spec"]
    assert entry["hosts"] == ["api.provider.example"]
    assert entry["resolution"] == "DNS"
    assert entry["ports"] == [{"number": 443, "name": "http2", "protocol": "HTTP2"}]
    policy = _one(result, "DestinationRule", "provider-b")["spec"]["trafficPolicy"]
    assert policy["tls"] == {"mode": "SIMPLE", "sni": "api.provider.example"}
    assert policy["connectionPool"]["tcp"]["connectTimeout"] == "1s"


def test_static_endpoints_get_a_service_entry_with_weights_and_ports() -> None:
    backend = ir.Backend(
        name="local-llm",
        endpoints=ir.StaticEndpoints(
            (ir.Endpoint("10.0.0.1", 8000), ir.Endpoint("10.0.0.2", 8001, weight=3))
        ),
    )
    result = export(ir.Model(backends=(backend,)))
    entry = _one(result, "ServiceEntry", "local-llm")["spec"]
    assert entry["hosts"] == ["local-llm.gitxds.internal"]
    assert entry["endpoints"] == [
        {"address": "10.0.0.1"},
        {"address": "10.0.0.2", "ports": {"http": 8001}, "weight": 3},
    ]


def test_two_backends_on_one_external_host_are_reported_and_exported_once() -> None:
    twin = ir.Backend(
        name="provider-b-eu", endpoints=ir.DnsEndpoints(hostname="api.provider.example", port=443)
    )
    model = chat_model()
    model = dataclasses.replace(model, backends=(*model.backends, twin))
    result = export(model)
    assert "Backend/provider-b-eu spec" in _paths(result, Severity.ERROR)
    entries = [d for d in result.documents if d["kind"] == "ServiceEntry"]
    assert [e["spec"]["hosts"] for e in entries] == [["api.provider.example"]]


def test_methods_become_one_istio_match_each() -> None:
    model = chat_model()
    route = model.routes[0]
    match = dataclasses.replace(route.rules[0].matches[0], methods=("GET", "POST"))
    rule = dataclasses.replace(route.rules[0], matches=(match,))
    model = dataclasses.replace(model, routes=(dataclasses.replace(route, rules=(rule,)),))
    matches = _one(export(model), "VirtualService", "chat")["spec"]["http"][0]["match"]
    assert [m["method"] for m in matches] == [{"exact": "GET"}, {"exact": "POST"}]
    assert all(m["uri"] == {"prefix": "/v1/chat/completions"} for m in matches)


def test_a_rule_without_retries_turns_istio_default_retries_off() -> None:
    model = chat_model()
    route = model.routes[0]
    rule = dataclasses.replace(route.rules[0], retries=None)
    model = dataclasses.replace(model, routes=(dataclasses.replace(route, rules=(rule,)),))
    assert _one(export(model), "VirtualService", "chat")["spec"]["http"][0]["retries"] == {"attempts": 0}


def test_fallback_is_reported_and_streaming_gets_an_idle_timeout_patch() -> None:
    model = chat_model()
    route = model.routes[0]
    rule = dataclasses.replace(route.rules[0], fallback=("provider-b",), streaming=ir.Streaming(30_500))
    model = dataclasses.replace(model, routes=(dataclasses.replace(route, rules=(rule,)),))
    result = export(model)
    assert "Route/chat spec.rules[0].fallback" in _paths(result, Severity.WARNING)
    http = _one(result, "VirtualService", "chat")["spec"]["http"][0]
    assert http["name"] == "chat-0"
    assert "timeout" not in http  # a stream has no total timeout
    [patch] = _one(result, "EnvoyFilter", "gitxds-streaming")["spec"]["configPatches"]
    assert patch["match"]["routeConfiguration"]["vhost"]["route"]["name"] == "chat-0"
    assert patch["patch"]["value"] == {"route": {"timeout": "0s", "idle_timeout": "30.500s"}}


def test_access_logs_become_telemetry_on_the_gateway_pods() -> None:
    model = chat_model()
    text_log = dataclasses.replace(model.gateways[0], access_log=ir.AccessLogFormat.TEXT)
    result = export(dataclasses.replace(model, gateways=(text_log,)))
    spec = _one(result, "Telemetry", "gitxds-telemetry-edge")["spec"]
    assert spec == {
        "selector": {"matchLabels": {"istio": "ingressgateway"}},
        "accessLogging": [{"providers": [{"name": "envoy"}]}],
    }
    assert result.mesh_config == {}

    json_log = dataclasses.replace(text_log, access_log=ir.AccessLogFormat.JSON)
    result = export(dataclasses.replace(model, gateways=(json_log,)))
    provider = _one(result, "Telemetry", "gitxds-telemetry-edge")["spec"]["accessLogging"][0]["providers"][0][
        "name"
    ]
    [entry] = result.mesh_config["extensionProviders"]
    assert entry["name"] == provider
    assert entry["envoyFileAccessLog"]["logFormat"]["labels"]["status"] == "%RESPONSE_CODE%"
    assert "Gateway/edge spec.accessLog" in _paths(result, Severity.WARNING)


def test_health_checks_patch_the_gateway_cluster_of_the_backend_subset() -> None:
    model = chat_model()
    checked = dataclasses.replace(
        model.backend("chat-v2"), health_check=ir.HealthCheck("/healthz", 5000, 1000)
    )
    model = dataclasses.replace(
        model, backends=tuple(checked if b.name == "chat-v2" else b for b in model.backends)
    )
    [patch] = _one(export(model), "EnvoyFilter", "gitxds-health-checks")["spec"]["configPatches"]
    assert patch["match"]["cluster"] == {
        "service": "chat.models.svc.cluster.local",
        "portNumber": 8000,
        "subset": "v2",
    }
    assert patch["patch"]["value"]["health_checks"][0]["http_health_check"]["path"] == "/healthz"


def test_secret_header_values_never_reach_the_output() -> None:
    model = chat_model()
    provider = dataclasses.replace(
        model.backend("provider-b"),
        request_headers=ir.HeaderOps(set=(("authorization", ir.SecretRef("provider-key")),)),
    )
    route = model.routes[0]
    rule = dataclasses.replace(route.rules[0], backends=(ir.WeightedBackend("provider-b", 1),))
    model = dataclasses.replace(
        model,
        backends=tuple(provider if b.name == "provider-b" else b for b in model.backends),
        routes=(dataclasses.replace(route, rules=(rule,)),),
    )
    result = export(model)
    assert "Backend/provider-b spec.requestHeaders.set.authorization" in _paths(result, Severity.ERROR)
    assert "provider-key" not in yaml.safe_dump_all(result.documents)
    assert "headers" not in _one(result, "VirtualService", "chat")["spec"]["http"][0]["route"][0]


def test_a_chosen_gateway_selector_is_used_and_not_reported() -> None:
    result = export(chat_model(), gateway_selector={"app": "edge-gateway"})
    assert _one(result, "Gateway", "edge")["spec"]["selector"] == {"app": "edge-gateway"}
    assert not any(f.path == "spec.proxies" for f in result.findings)


def test_export_of_a_python_model_passes_strict_crd_validation(crd_validator: CrdValidator) -> None:
    problems = [str(p) for d in export(chat_model()).documents for p in crd_validator.validate(d)]
    assert problems == []


def _run(args: list[str]) -> int:
    return main(["export", "istio", *args])


def test_cli_writes_yaml_and_exits_zero_when_faithful(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "istio.yaml"
    code = _run(
        [str(GOLDEN_DIR / "canary" / "in"), "--gateway-selector", "istio=ingressgateway", "-o", str(out)]
    )
    assert code == 0
    kinds = [d["kind"] for d in yaml.safe_load_all(out.read_text()) if d]
    assert kinds == ["Gateway", "DestinationRule", "VirtualService"]
    assert capsys.readouterr().err == ""


def test_cli_strict_turns_warnings_into_exit_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run([str(GOLDEN_DIR / "canary" / "in")]) == 0
    assert _run([str(GOLDEN_DIR / "canary" / "in"), "--strict"]) == 1
    assert "Gateway/edge spec.proxies: warning: Approximated" in capsys.readouterr().err


def test_cli_exits_one_on_error_findings(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run([str(GOLDEN_DIR / "external-provider" / "in")]) == 1
    err = capsys.readouterr().err
    assert "Backend/provider-a spec.requestHeaders.set.authorization: error: SecretNotExported" in err


def test_a_local_policy_on_several_rules_is_reported_as_counting_per_rule() -> None:
    policy = ir.RateLimitPolicy(
        name="tiered",
        mode=ir.RateLimitMode.LOCAL,
        key_header="x-api-key",
        tier_header=None,
        default_tier="free",
        limits=(("free", ir.Rate(20, 60)),),
    )
    model = chat_model()
    route = model.routes[0]
    rule = dataclasses.replace(route.rules[0], rate_limit="tiered")
    second = dataclasses.replace(rule, name="chat/1", matches=())
    model = dataclasses.replace(
        model, rate_limit_policies=(policy,), routes=(dataclasses.replace(route, rules=(rule, second)),)
    )
    result = export(model)
    assert "RateLimitPolicy/tiered spec.limits" in _paths(result, Severity.WARNING)
    patches = _one(result, "EnvoyFilter", "gitxds-ratelimit-tiered")["spec"]["configPatches"]
    routes = [p["match"]["routeConfiguration"]["vhost"]["route"]["name"] for p in patches[1:]]
    assert routes == ["chat-0", "chat-1"]
    http = _one(result, "VirtualService", "chat")["spec"]["http"]
    assert [h["name"] for h in http] == ["chat-0", "chat-1"]


def test_cli_invalid_config_exports_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "route.yaml").write_text(
        "apiVersion: gitxds.dev/v1alpha1\nkind: Route\nmetadata: {name: r}\n"
        "spec: {gateways: [edge], rules: [{backends: [{name: missing}]}]}\n"
    )
    assert _run([str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "nothing exported" in captured.err


def test_cli_usage_errors_exit_two(tmp_path: Path) -> None:
    assert _run([str(tmp_path / "missing")]) == 2
    assert _run([str(GOLDEN_DIR / "canary" / "in"), "--gateway-selector", "novalue"]) == 2
