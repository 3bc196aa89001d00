"""Any value in any field of a valid config gives diagnostics or a model, never an exception."""

from __future__ import annotations

import copy
import io
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from gitxds.compile import compile_loaded
from gitxds.config import merge_files, parse_file

V = "gitxds.dev/v1alpha1"
VALID: list[dict[str, Any]] = [
    {
        "apiVersion": V,
        "kind": "Gateway",
        "metadata": {"name": "edge"},
        "spec": {
            "proxies": {"cluster": "edge"},
            "listeners": [
                {"name": "http", "port": 80},
                {"name": "s", "port": 443, "protocol": "HTTPS", "tls": {"secretRef": "c"}},
            ],
            "accessLog": {"format": "json"},
            "auth": "keys",
        },
    },
    {
        "apiVersion": V,
        "kind": "Backend",
        "metadata": {"name": "chat", "labels": {"model": "chat"}},
        "spec": {
            "endpoints": [{"address": "10.0.0.1", "port": 8000, "priority": 0, "weight": 2}],
            "protocol": "HTTP2",
            "connectTimeout": "1s",
            "loadBalancer": "RING_HASH",
            "hashOn": {"header": "x-user"},
            "circuitBreaker": {"maxConnections": 10},
            "outlierDetection": {"consecutive5xx": 3, "interval": "5s"},
            "healthCheck": {"path": "/h", "interval": "5s", "timeout": "1s"},
            "requestHeaders": {"set": {"authorization": {"secretRef": "k"}}, "remove": ["x-a"]},
        },
    },
    {
        "apiVersion": V,
        "kind": "Route",
        "metadata": {"name": "chat"},
        "spec": {
            "gateways": ["edge"],
            "hostnames": ["api.example.com"],
            "rules": [
                {
                    "name": "main",
                    "matches": [
                        {
                            "path": {"prefix": "/v1"},
                            "headers": [{"name": "x-m", "exact": "a"}],
                            "methods": ["POST"],
                        }
                    ],
                    "backends": [{"name": "chat", "weight": 1}],
                    "timeout": "30s",
                    "retries": {"attempts": 2, "on": ["5xx"], "perTryTimeout": "10s"},
                    "mirror": {"backend": "chat", "percent": 5},
                    "fault": {"abort": {"percent": 1, "status": 503}},
                    "headers": {"response": {"remove": ["server"]}},
                    "rateLimit": "tiered",
                    "auth": "none",
                }
            ],
        },
    },
    {
        "apiVersion": V,
        "kind": "RateLimitPolicy",
        "metadata": {"name": "tiered"},
        "spec": {
            "key": {"header": "x-k"},
            "tier": {"header": "x-t", "default": "free"},
            "limits": {"free": "1/second", "pro": "5/second"},
        },
    },
    {
        "apiVersion": V,
        "kind": "AuthPolicy",
        "metadata": {"name": "keys"},
        "spec": {"extAuthz": {"backend": "chat"}},
    },
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(
        ["", "none", "1s", "0s", "5/minute", "edge", "chat", "HTTPS", "RING_HASH", "/", "[", "(?=x)"]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in items:
        found += paths(child, (*prefix, key))
    return found


def dump(documents: list[Any]) -> str:
    out = io.StringIO()
    YAML(typ="safe", pure=True).dump_all(documents, out)
    return out.getvalue()


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_a_mutated_field_never_raises(data: st.DataObject) -> None:
    documents = copy.deepcopy(VALID)
    target = data.draw(st.sampled_from(documents))
    path = data.draw(st.sampled_from(paths(target)))
    parent = target
    for part in path[:-1]:
        parent = parent[part]
    if data.draw(st.booleans()):
        parent[path[-1]] = data.draw(values)
    elif isinstance(parent, dict):
        del parent[path[-1]]
    result = compile_loaded(merge_files([parse_file("all.yaml", dump(documents))]))
    if not result.diagnostics:
        assert len(result.model.routes) == 1
    for diagnostic in result.diagnostics:
        assert diagnostic.line >= 1 and diagnostic.message
