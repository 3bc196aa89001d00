"""Which EndpointSlice endpoints get traffic, for which port."""

from __future__ import annotations

from fakes.kube_api import endpoint, endpoint_slice
from gitxds import ir
from gitxds.discovery import endpoints_for_port, pods_selected


def addresses(endpoints: tuple[ir.Endpoint, ...]) -> list[str]:
    return [e.address for e in endpoints]


def test_ready_endpoints_get_traffic_and_not_ready_ones_do_not() -> None:
    slices = [
        endpoint_slice("s-1", "svc", [endpoint("10.0.0.2"), endpoint("10.0.0.1", ready=False)]),
        endpoint_slice("s-2", "svc", [endpoint("10.0.0.3", ready=None)]),  # unset ready means ready
    ]
    assert endpoints_for_port(slices, 8080) == (ir.Endpoint("10.0.0.2", 8080), ir.Endpoint("10.0.0.3", 8080))


def test_terminating_but_serving_endpoints_are_used_only_when_nothing_is_ready() -> None:
    draining = endpoint("10.0.0.9", ready=False, serving=True, terminating=True)
    gone = endpoint("10.0.0.8", ready=False, serving=False, terminating=True)
    unset_serving = endpoint("10.0.0.7", ready=False, terminating=True)  # serving defers to ready
    with_ready = [endpoint_slice("s", "svc", [draining, gone, unset_serving, endpoint("10.0.0.1")])]
    only_draining = [endpoint_slice("s", "svc", [draining, gone, unset_serving])]

    assert addresses(endpoints_for_port(with_ready, 8080)) == ["10.0.0.1"]
    assert addresses(endpoints_for_port(only_draining, 8080)) == ["10.0.0.9"]


def test_a_terminating_endpoint_never_counts_as_ready() -> None:
    terminating = endpoint("10.0.0.1", ready=True, terminating=True)
    slices = [endpoint_slice("s", "svc", [terminating, endpoint("10.0.0.2")])]
    assert addresses(endpoints_for_port(slices, 8080)) == ["10.0.0.2"]


def test_only_slices_listing_the_backend_port_count() -> None:
    slices = [
        endpoint_slice("web", "svc", [endpoint("10.0.0.1")], ports=[("http", 8080)]),
        endpoint_slice("grpc", "svc", [endpoint("10.0.0.2")], ports=[("grpc", 9090), ("http", 8080)]),
    ]
    assert addresses(endpoints_for_port(slices, 9090)) == ["10.0.0.2"]
    assert addresses(endpoints_for_port(slices, 8080)) == ["10.0.0.1", "10.0.0.2"]
    assert endpoints_for_port(slices, 7000) == ()
    assert {e.port for e in endpoints_for_port(slices, 9090)} == {9090}


def test_first_address_only_duplicates_merged_fqdn_slices_ignored_output_sorted() -> None:
    first_only = {"addresses": ["10.0.0.5", "10.0.0.6"], "conditions": {"ready": True}}
    slices = [
        endpoint_slice("b", "svc", [first_only, endpoint("10.0.0.1")]),
        endpoint_slice("a", "svc", [endpoint("10.0.0.1")]),  # the same pod in two slices mid-move
        endpoint_slice("f", "svc", [endpoint("model.example.com")], address_type="FQDN"),
    ]
    assert addresses(endpoints_for_port(slices, 8080)) == ["10.0.0.1", "10.0.0.5"]


def test_a_pod_selector_keeps_its_pods_and_drains_on_its_own() -> None:
    pods = {"a": {"version": "v1"}, "b": {"version": "v2"}, "c": {"version": "v2"}}
    slices = [
        endpoint_slice(
            "s",
            "svc",
            [
                endpoint("10.0.0.1", pod="a"),
                endpoint("10.0.0.2", pod="b", ready=False, serving=True, terminating=True),
                endpoint("10.0.0.3", pod="c", ready=False),
                endpoint("10.0.0.4", pod="gone"),  # its pod is not (or no longer) known
                endpoint("10.0.0.5"),  # no targetRef
            ],
        )
    ]
    v1 = pods_selected(pods, [("version", "v1")])
    v2 = pods_selected(pods, [("version", "v2")])
    assert addresses(endpoints_for_port(slices, 8080, v1)) == ["10.0.0.1"]
    # v1 has a ready pod, v2 does not: v2 drains on its serving terminating pod
    assert addresses(endpoints_for_port(slices, 8080, v2)) == ["10.0.0.2"]
