"""``gitxds import istio``: every Istio sample imports, or is refused with a reason per field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gitxds.cli import main
from gitxds.config import load_directory
from gitxds.errors import Severity
from gitxds.importers.istio import FindingReason, ImportResult, SourceDocument, import_istio, render_files

from .crd_validator import SAMPLES_DIR, load_documents

SAMPLES = sorted(p.name for p in SAMPLES_DIR.glob("*.yaml"))
BOOKINFO = [
    "destination-rule-all.yaml",
    "virtual-service-reviews-90-10.yaml",
    "virtual-service-ratings-test-delay.yaml",
]


def _import(*names: str, gateway: str | None = "edge", documents: list[Any] | None = None) -> ImportResult:
    sources = [SourceDocument(name, d) for name in names for d in load_documents(SAMPLES_DIR / name)]
    sources += [SourceDocument("inline.yaml", d) for d in documents or []]
    return import_istio(sources, gateway=gateway)


def _errors(result: ImportResult) -> list[str]:
    return [
        f"{f.kind}/{f.name} {f.path}: {f.reason}" for f in result.findings if f.severity is Severity.ERROR
    ]


def _write(result: ImportResult, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in render_files(result.documents, ["test"]).items():
        (directory / name).write_text(text)
    return directory


def _imported_names(result: ImportResult, kind: str) -> set[str]:
    return {d["metadata"]["name"] for d in result.documents if d["kind"] == kind}


@pytest.mark.parametrize("sample", SAMPLES)
def test_every_sample_object_imports_or_is_refused_with_field_reasons(sample: str, tmp_path: Path) -> None:
    result = _import(sample)
    routes = _imported_names(result, "Route")
    for document in load_documents(SAMPLES_DIR / sample):
        name = document["metadata"]["name"]
        errors = [f for f in result.findings if f.name == name and f.severity is Severity.ERROR]
        if document["kind"] == "VirtualService" and name in routes:
            assert errors == []
        if errors:
            assert errors[-1].reason is FindingReason.REFUSED
            assert [f for f in errors if f.path and f.message], "a refusal names at least one field"
    assert load_directory(_write(result, tmp_path)).diagnostics == ()


def test_the_invalid_destination_rules_are_refused_naming_each_bad_field() -> None:
    result = _import("validation-destinationrule-invalid.yaml")
    assert result.documents == []
    paths = {f.path for f in result.findings if f.severity is Severity.ERROR}
    assert {"_err", "spec.trafficPolicy.loadBalancer.warmup"} <= paths


def test_tcp_routes_are_refused_with_the_reason() -> None:
    result = _import("tcp-echo-20-v2.yaml")
    assert result.documents == []
    [tcp] = [f for f in result.findings if f.path == "spec.tcp"]
    assert "HTTP only" in tcp.message


def test_bookinfo_imports_without_errors_into_a_directory_the_loader_accepts(tmp_path: Path) -> None:
    result = _import(*BOOKINFO)
    assert _errors(result) == []
    loaded = load_directory(_write(result, tmp_path))
    assert loaded.diagnostics == ()
    [reviews] = [d for d in result.documents if d["kind"] == "Route" and d["metadata"]["name"] == "reviews"]
    assert reviews["spec"] == {
        "gateways": ["edge"],
        "hostnames": ["reviews"],
        "rules": [
            {
                "backends": [{"name": "reviews-v1", "weight": 90}, {"name": "reviews-v2", "weight": 10}],
                # Istio's default retry policy, written out so gitxds behaves the same
                "retries": {
                    "attempts": 2,
                    "on": ["connect-failure", "refused-stream", "unavailable", "cancelled"],
                },
            }
        ],
    }
    assert any(f.path == "spec.http[0].retries.retryOn" for f in result.findings)


def test_subsets_become_backends_selecting_their_pods_of_one_kubernetes_service() -> None:
    result = _import("destination-rule-reviews.yaml")
    backends = {d["metadata"]["name"]: d for d in result.documents if d["kind"] == "Backend"}
    assert sorted(backends) == ["reviews-v1", "reviews-v2", "reviews-v3"]
    v2 = backends["reviews-v2"]
    assert v2["metadata"]["labels"] == {"version": "v2"}
    assert v2["spec"]["kubernetes"] == {
        "service": "reviews",
        "namespace": "default",
        "port": 80,
        "selector": {"version": "v2"},
    }
    assert v2["spec"]["loadBalancer"] == "RANDOM"
    assert v2["spec"]["connectTimeout"] == "10s"  # Istio's default, written out
    warnings = [f.message for f in result.findings if f.severity is Severity.WARNING]
    assert any("assume port 80" in m for m in warnings)


def test_the_reviews_90_10_split_imports_its_subsets_exactly(tmp_path: Path) -> None:
    result = _import("destination-rule-all.yaml", "virtual-service-reviews-90-10.yaml")
    assert _errors(result) == []
    approximated = [f for f in result.findings if f.reason is FindingReason.APPROXIMATED]
    # left approximated: the Service port Istio reads from the cluster and its default retry policy
    assert {f.path for f in approximated} == {"spec", "spec.http[0].retries.retryOn"}
    assert all("assume port" in f.message for f in approximated if f.kind == "DestinationRule")
    assert not [f for f in result.findings if "subset" in f.message or "pods" in f.message]
    selectors = {
        d["metadata"]["name"]: d["spec"]["kubernetes"].get("selector")
        for d in result.documents
        if d["kind"] == "Backend"
    }
    assert selectors["reviews-v1"] == {"version": "v1"}
    assert selectors["reviews-v2"] == {"version": "v2"}
    assert selectors["ratings-v2-mysql-vm"] == {"version": "v2-mysql-vm"}
    assert load_directory(_write(result, tmp_path)).diagnostics == ()


def test_a_misspelled_field_refuses_the_object_and_names_the_field() -> None:
    document = yaml.safe_load(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: typo}\n"
        "spec: {hosts: [a], gateways: [edge], http: [{tiemout: 5s, route: [{destination: {host: a}}]}]}"
    )
    result = _import(documents=[document])
    assert _imported_names(result, "Route") == set()
    assert "VirtualService/typo spec.http[0].tiemout: UnsupportedField" in _errors(result)


def test_other_kinds_are_refused() -> None:
    policy = {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy", "metadata": {"name": "p"}}
    result = _import(documents=[policy])
    assert "AuthorizationPolicy/p kind: UnsupportedKind" in _errors(result)


GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["*"]
    tls: {mode: SIMPLE, credentialName: edge-cert}
"""


def test_gateway_servers_become_listeners() -> None:
    result = _import(documents=[yaml.safe_load(GATEWAY)])
    [gateway] = result.documents
    assert gateway["spec"] == {
        "proxies": {"cluster": "edge"},
        "listeners": [
            {"name": "http", "port": 80},
            {"name": "https", "port": 443, "protocol": "HTTPS", "tls": {"secretRef": "edge-cert"}},
        ],
    }
    assert [f.path for f in result.findings] == ["spec.selector"]


def test_gateway_passthrough_and_tcp_servers_are_refused() -> None:
    document = yaml.safe_load(GATEWAY)
    document["spec"]["servers"][1]["tls"] = {"mode": "PASSTHROUGH"}
    tcp = {"port": {"number": 31400, "name": "tcp", "protocol": "TCP"}, "hosts": ["*"]}
    document["spec"]["servers"].append(tcp)
    result = _import(documents=[document])
    assert result.documents == []
    errors = set(_errors(result))
    assert "Gateway/edge spec.servers[1].tls: UnsupportedField" in errors
    assert "Gateway/edge spec.servers[2].port.protocol: UnsupportedField" in errors


def test_mesh_routes_without_a_gateway_option_are_imported_with_a_warning() -> None:
    result = _import("api-proto-vs-timeout.yaml", gateway=None)
    [route] = [d for d in result.documents if d["kind"] == "Route"]
    assert route["spec"]["gateways"] == []
    assert any(f.path == "spec.gateways" and f.severity is Severity.WARNING for f in result.findings)


def test_cli_writes_the_directory_and_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(SAMPLES_DIR / name) for name in BOOKINFO]
    code = main(["import", "istio", *files, "--output", str(tmp_path / "out"), "--gateway", "edge"])
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["backends.yaml", "routes.yaml"]
    assert "warning:" in capsys.readouterr().err


def test_cli_exits_one_when_something_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["import", "istio", str(SAMPLES_DIR / "tcp-echo-20-v2.yaml"), "--output", str(tmp_path)])
    assert code == 1
    assert "VirtualService/tcp-echo spec.tcp: error: UnsupportedField" in capsys.readouterr().err


def test_cli_strict_fails_on_warnings(tmp_path: Path) -> None:
    files = [str(SAMPLES_DIR / name) for name in BOOKINFO]
    assert main(["import", "istio", *files, "--output", str(tmp_path), "--gateway", "edge", "--strict"]) == 1


def test_cli_unreadable_file_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["import", "istio", str(tmp_path / "missing.yaml"), "--output", str(tmp_path)]) == 2


@pytest.mark.parametrize(
    ("http_name", "rule_name"),
    [("reviews-0", None), ("reviews-canary", "canary"), ("Jason Only", "jason-only")],
)
def test_http_route_names_become_rule_names(http_name: str, rule_name: str | None) -> None:
    route = load_documents(SAMPLES_DIR / "virtual-service-reviews-90-10.yaml")[0]
    route["spec"]["http"][0]["name"] = http_name
    result = _import("destination-rule-all.yaml", documents=[route])
    [imported] = [d for d in result.documents if d["kind"] == "Route"]
    assert imported["spec"]["rules"][0].get("name") == rule_name
