"""Outlier detection, active health checks and fallback backends: traffic moves off failing endpoints."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from harness import free_port, get, send_many, tally, tally_upstreams, wait_for
from harness.configs import backend_doc, document, gateway_doc, route_doc

BACKEND_HEADER = "x-gitxds-backend"


def _rule(path: str, backend: str, **policy: object) -> dict[str, object]:
    return {"matches": [{"path": {"prefix": path}}], "backends": [{"name": backend}], **policy}


@pytest.fixture(scope="module")
def failover(module_upstreams, module_gateway_factory):
    names = ("od-good", "od-bad", "hc-good", "hc-bad", "down", "failing", "spare", "first", "standby")
    up = {name: module_upstreams(name) for name in names}
    up["od-bad"].configure(fail_status=503)
    up["hc-bad"].configure(healthy=False)
    up["failing"].configure(fail_status=503)
    outlier = {"consecutive5xx": 2, "interval": "1s", "baseEjectionTime": "30s", "maxEjectionPercent": 50}
    # A backend with one endpoint can only be ejected when 100% of it may be.
    eject_all = {**outlier, "maxEjectionPercent": 100}
    documents = [
        gateway_doc("edge", free_port()),
        backend_doc("ejecting", [up["od-good"].port, up["od-bad"].port], outlierDetection=outlier),
        backend_doc(
            "checked",
            [up["hc-good"].port, up["hc-bad"].port],
            healthCheck={
                "path": "/healthz",
                "interval": "100ms",
                "timeout": "500ms",
                "unhealthyThreshold": 1,
            },
        ),
        backend_doc("down", [free_port()]),
        backend_doc("down-too", [free_port()]),
        backend_doc("failing", [up["failing"].port], outlierDetection=eject_all),
        backend_doc("spare", [up["spare"].port]),
        document(
            "Backend",
            "tiered",
            {
                "endpoints": [
                    {"address": "127.0.0.1", "port": up["first"].port},
                    {"address": "127.0.0.1", "port": up["standby"].port, "priority": 1},
                ],
                "outlierDetection": eject_all,
            },
        ),
        route_doc(
            "failover",
            [
                _rule("/outlier", "ejecting"),
                _rule("/checked", "checked"),
                _rule("/fallback-down", "down", fallback=["spare"]),
                _rule("/fallback-failing", "failing", fallback=["spare"]),
                _rule("/tiered", "tiered"),
                {
                    "matches": [{"path": {"prefix": "/split-all-down"}}],
                    "backends": [{"name": "down", "weight": 50}, {"name": "down-too", "weight": 50}],
                    "fallback": ["spare"],
                },
            ],
        ),
    ]
    gateway = module_gateway_factory(documents)
    return SimpleNamespace(port=gateway.port, envoy=gateway.envoy, up=up)


def test_outlier_detection_ejects_a_failing_endpoint(failover):
    bad, good = failover.up["od-bad"], failover.up["od-good"]
    early = send_many(failover.port, 10, "/outlier")
    assert 1 <= bad.hits <= 4, "the failing endpoint was tried, then ejected"
    assert sum(r.status == 503 for r in early) == bad.hits
    hits_after_ejection = bad.hits
    assert tally(failover.port, 40, "/outlier") == {"od-good": 40}
    assert bad.hits == hits_after_ejection
    assert good.hits >= 40
    flags = {host.port: host.health_flags for host in failover.envoy.hosts("ejecting")}
    assert "failed_outlier_check" in flags[bad.port]
    assert flags[good.port] == ()


def test_an_endpoint_failing_active_health_checks_gets_no_traffic(failover):
    bad, good = failover.up["hc-bad"], failover.up["hc-good"]
    failover.envoy.wait_for(
        lambda: not next(h for h in failover.envoy.hosts("checked") if h.port == bad.port).healthy,
        5,
        message="hc-bad marked unhealthy",
    )
    assert tally(failover.port, 30, "/checked") == {"hc-good": 30}
    assert bad.hits == 0
    assert bad.health_checks >= 1 and good.health_checks >= 1


def test_an_unhealthy_endpoint_gets_traffic_again_once_it_recovers(failover):
    bad = failover.up["hc-bad"]
    failover.envoy.wait_for(
        lambda: not next(h for h in failover.envoy.hosts("checked") if h.port == bad.port).healthy,
        5,
        message="hc-bad marked unhealthy",
    )
    checks = bad.health_checks
    wait_for(lambda: bad.health_checks >= checks + 3, 2, message="health checks every 100ms")
    bad.configure(healthy=True)
    failover.envoy.wait_for(
        lambda: all(h.healthy for h in failover.envoy.hosts("checked")), 5, message="hc-bad healthy again"
    )
    assert tally(failover.port, 20, "/checked") == {"hc-good": 10, "hc-bad": 10}


def test_fallback_serves_when_the_primary_is_down(failover):
    responses = send_many(failover.port, 20, "/fallback-down")
    assert tally_upstreams(responses) == {"spare": 20}
    assert {r.headers.get(BACKEND_HEADER) for r in responses} == {"spare"}


def test_fallback_serves_when_every_weighted_primary_is_down(failover):
    responses = send_many(failover.port, 20, "/split-all-down")
    assert tally_upstreams(responses) == {"spare": 20}
    assert {r.headers.get(BACKEND_HEADER) for r in responses} == {"spare"}


def test_fallback_serves_when_the_primary_fails_and_is_ejected(failover):
    failing = failover.up["failing"]
    responses = send_many(failover.port, 20, "/fallback-failing")
    assert [r.status for r in responses] == [200] * 20  # a failed try moves on to the fallback
    assert {r.headers.get(BACKEND_HEADER) for r in responses} == {"spare"}
    assert failing.hits <= 3, "the primary was ejected after its consecutive failures"


def test_response_header_names_the_primary_when_it_answers(failover):
    response = get(failover.port, "/outlier")
    assert response.headers.get(BACKEND_HEADER) == "ejecting"


def test_priority_one_endpoint_takes_over_when_priority_zero_fails(failover):
    first, standby = failover.up["first"], failover.up["standby"]
    assert tally(failover.port, 20, "/tiered") == {"first": 20}
    assert standby.hits == 0

    first.configure(fail_status=503)
    send_many(failover.port, 5, "/tiered")  # two consecutive 5xx eject the priority-0 endpoint
    assert tally(failover.port, 20, "/tiered") == {"standby": 20}
    assert first.hits <= 20 + 4
