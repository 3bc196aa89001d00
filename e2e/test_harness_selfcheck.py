"""The harness itself, against a hand-written static bootstrap (no gitxds code involved)."""

from __future__ import annotations

import json

from harness import HttpClient, free_port, get, send_many, stream_events, tally_upstreams


def _proxy_bootstrap(listen_port: int, upstream_port: int) -> dict[str, object]:
    return {
        "static_resources": {
            "listeners": [
                {
                    "name": "http",
                    "address": {"socket_address": {"address": "127.0.0.1", "port_value": listen_port}},
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": {
                                        "@type": "type.googleapis.com/envoy.extensions.filters.network."
                                        "http_connection_manager.v3.HttpConnectionManager",
                                        "stat_prefix": "http",
                                        "route_config": {
                                            "virtual_hosts": [
                                                {
                                                    "name": "all",
                                                    "domains": ["*"],
                                                    "routes": [
                                                        {
                                                            "match": {"prefix": "/"},
                                                            "route": {"cluster": "up", "timeout": "0s"},
                                                        }
                                                    ],
                                                }
                                            ]
                                        },
                                        "http_filters": [
                                            {
                                                "name": "envoy.filters.http.router",
                                                "typed_config": {
                                                    "@type": "type.googleapis.com/envoy.extensions."
                                                    "filters.http.router.v3.Router"
                                                },
                                            }
                                        ],
                                    },
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": [
                {
                    "name": "up",
                    "type": "STATIC",
                    "connect_timeout": "1s",
                    "load_assignment": {
                        "cluster_name": "up",
                        "endpoints": [
                            {
                                "lb_endpoints": [
                                    {
                                        "endpoint": {
                                            "address": {
                                                "socket_address": {
                                                    "address": "127.0.0.1",
                                                    "port_value": upstream_port,
                                                }
                                            }
                                        }
                                    }
                                ]
                            }
                        ],
                    },
                }
            ],
        }
    }


def test_envoy_proxies_to_an_upstream_that_records_and_fails_on_demand(upstreams, envoy_factory):
    upstream = upstreams("alpha")
    port = free_port()
    envoy = envoy_factory(_proxy_bootstrap(port, upstream.port))
    envoy.wait_listening(port)

    response = get(port, "/hello", headers={"x-probe": "1"})
    assert response.status == 200
    assert response.upstream == "alpha"
    assert response.json()["path"] == "/hello"
    assert upstream.requests[-1].headers["x-probe"] == "1"

    upstream.configure(fail_status=503, fail_mode="first", fail_count=2)
    statuses = [r.status for r in send_many(port, 4)]
    assert statuses == [503, 503, 200, 200]
    assert tally_upstreams(send_many(port, 3)) == {"alpha": 3}

    assert envoy.stat("cluster.up.upstream_rq_completed") >= 8
    assert [h.port for h in envoy.hosts("up")] == [upstream.port]
    assert "up" in envoy.cluster_names()
    assert port in envoy.listener_ports()
    dump = json.dumps(envoy.config_dump())
    assert "static_listeners" in dump


def test_sse_streams_events_through_envoy(upstreams, envoy_factory):
    upstream = upstreams("streamer")
    port = free_port()
    envoy_factory(_proxy_bootstrap(port, upstream.port)).wait_listening(port)

    head, events, ending = stream_events(port, "/sse?interval=0.1&duration=0.55")
    assert head.status == 200
    assert head.headers["content-type"] == "text/event-stream"
    assert ending == "complete"
    assert 4 <= len(events) <= 7
    assert events[-1].at > 0.3

    head, events, ending = stream_events(
        port,
        "/v1/chat/completions?interval=0.05&duration=0.2",
        method="POST",
        body={"model": "m", "stream": True},
    )
    assert head.status == 200
    assert ending == "complete"
    assert events[-1].data == "[DONE]"
    assert json.loads(events[0].data)["object"] == "chat.completion.chunk"


def test_upstream_holds_requests_until_released(upstreams):
    upstream = upstreams("holder", hold=True)
    with HttpClient(upstream.port, timeout=0.3) as client:
        try:
            client.request("/")
        except TimeoutError:
            pass
        else:
            raise AssertionError("a held request answered")
    upstream.release()
    assert get(upstream.port, "/").status == 200
    assert upstream.hits == 2
