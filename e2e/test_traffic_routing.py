"""Model routing: by header, by path (prefix, exact, regex), by method and by hostname."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from harness import HttpClient, free_port, get, wait_for
from harness.configs import backend_doc, gateway_doc, route_doc

BACKENDS = (
    "large",
    "small",
    "embed",
    "models",
    "model-detail",
    "api-host",
    "eu-host",
    "writer",
    "tenant",
    "anonymous",
)


def _rule(backend: str, **match: object) -> dict[str, object]:
    return {"matches": [match], "backends": [{"name": backend}]}


@pytest.fixture(scope="module")
def routing(module_upstreams, module_gateway_factory):
    upstreams = {name: module_upstreams(name) for name in BACKENDS}
    chat = "/v1/chat/completions"
    documents = [
        gateway_doc("edge", free_port(), accessLog={"format": "json"}),
        *(backend_doc(name, [u.port]) for name, u in upstreams.items()),
        route_doc(
            "models",
            [
                _rule(
                    "large",
                    path={"prefix": chat},
                    headers=[{"name": "x-model", "exact": "chat-large"}],
                ),
                _rule("small", path={"prefix": chat}, headers=[{"name": "x-model", "regex": "chat-(s|xs)"}]),
                _rule("embed", path={"prefix": "/v1/embeddings"}),
                _rule("models", path={"exact": "/v1/models"}),
                _rule("model-detail", path={"regex": "/v1/models/[a-z]+-v[0-9]+"}),
                _rule("writer", path={"prefix": "/v1/files"}, methods=["POST", "PUT"]),
                _rule(
                    "tenant", path={"prefix": "/v1/batch"}, headers=[{"name": "x-tenant", "present": True}]
                ),
                _rule(
                    "anonymous",
                    path={"prefix": "/v1/batch"},
                    headers=[{"name": "x-tenant", "present": True, "invert": True}],
                ),
            ],
        ),
        route_doc("api", [_rule("api-host", path={"prefix": "/"})], hostnames=["api.example.com"]),
        route_doc("eu", [_rule("eu-host", path={"prefix": "/"})], hostnames=["*.eu.example.com"]),
    ]
    gateway = module_gateway_factory(documents)
    return SimpleNamespace(port=gateway.port, envoy=gateway.envoy, upstreams=upstreams)


@pytest.mark.parametrize(
    ("model", "expected"),
    [("chat-large", "large"), ("chat-s", "small"), ("chat-xs", "small")],
)
def test_header_selects_the_model_backend(routing, model, expected):
    response = get(routing.port, "/v1/chat/completions", method="POST", headers={"x-model": model}, body={})
    assert response.status == 200
    assert response.upstream == expected
    assert routing.upstreams[expected].requests[-1].headers["x-model"] == model


def test_unknown_model_header_matches_nothing(routing):
    assert get(routing.port, "/v1/chat/completions", headers={"x-model": "chat-huge"}).status == 404
    assert get(routing.port, "/v1/chat/completions").status == 404


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1/embeddings", "embed"),
        ("/v1/embeddings/batch", "embed"),
        ("/v1/models", "models"),
        ("/v1/models/chat-v2", "model-detail"),
    ],
)
def test_path_prefix_exact_and_regex(routing, path, expected):
    response = get(routing.port, path)
    assert (response.status, response.upstream) == (200, expected)
    assert routing.upstreams[expected].requests[-1].path == path


@pytest.mark.parametrize("path", ["/v1/models/", "/v1/models/Chat-v2", "/v1/models/chat-v2/extra", "/v2/x"])
def test_paths_that_match_no_rule_get_404(routing, path):
    response = get(routing.port, path)
    assert response.status == 404
    assert response.upstream is None


def test_method_match(routing):
    with HttpClient(routing.port) as client:
        assert client.request("/v1/files", method="POST", body="x").upstream == "writer"
        assert client.request("/v1/files", method="PUT", body="x").upstream == "writer"
        assert client.request("/v1/files").status == 404


def test_hostname_selects_the_virtual_host(routing):
    with HttpClient(routing.port) as client:
        assert client.request("/anything", headers={"host": "api.example.com"}).upstream == "api-host"
        assert client.request("/x", headers={"host": "fr.eu.example.com"}).upstream == "eu-host"
        # A host no route names gets only the rules of routes that accept any hostname.
        assert client.request("/v1/embeddings", headers={"host": "other.example.com"}).upstream == "embed"
        assert client.request("/anything", headers={"host": "other.example.com"}).status == 404
    assert routing.upstreams["api-host"].requests[-1].headers["host"] == "api.example.com"


def test_header_present_and_inverted_present(routing):
    assert get(routing.port, "/v1/batch", headers={"x-tenant": "acme"}).upstream == "tenant"
    assert get(routing.port, "/v1/batch").upstream == "anonymous"


def test_json_access_log_names_route_and_backend(routing):
    get(routing.port, "/v1/embeddings/access-log-probe", headers={"user-agent": "probe/1"})

    def logged() -> dict | None:
        for line in routing.envoy.log_path.read_text().splitlines():
            if line.startswith("{") and "access-log-probe" in line:
                return json.loads(line)
        return None

    entry = wait_for(logged, 5, message="access log line for the probe request")
    assert entry["path"] == "/v1/embeddings/access-log-probe"
    assert entry["status"] == 200
    assert entry["backend"] == "embed"
    assert entry["user_agent"] == "probe/1"
    assert entry["route"]
