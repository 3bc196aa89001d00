"""EndpointSlices of one Service -> the endpoints Envoy should send traffic to, for one port.

Conditions follow the EndpointSlice API: an unset ``ready`` means true, an unset ``serving`` defers
to ``ready``, an unset ``terminating`` means false. Ready endpoints get traffic. Only when none of the
Service's endpoints for the port is ready do terminating endpoints that still report ``serving`` get
it, so a rolling update that briefly has nothing ready drains instead of failing every request.
Not-ready endpoints are never used. Only an endpoint's first address is used, as the API asks.

A pod selector keeps only the endpoints whose ``targetRef`` names a pod that carries every label of
the selector (the ready/draining choice is then made among those, so each subset drains on its own).
An endpoint without a pod ``targetRef`` (a hand-made slice) is never selected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gitxds import ir

__all__ = ["SERVICE_NAME_LABEL", "endpoints_for_port", "pods_selected", "slice_port"]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"

Slice = Mapping[str, Any]  # a discovery.k8s.io/v1 EndpointSlice as JSON
SliceEndpoint = Mapping[str, Any]  # one entry of a slice's ``endpoints``
EndpointFilter = Callable[[SliceEndpoint], bool]


def pods_selected(
    pods: Mapping[str, Mapping[str, str]], selector: Iterable[tuple[str, str]]
) -> EndpointFilter:
    """Whether an endpoint's pod (by ``targetRef``, in ``pods``: name -> labels) has the labels."""
    wanted = tuple(selector)

    def selected(endpoint: SliceEndpoint) -> bool:
        target = endpoint.get("targetRef") or {}
        labels = pods.get(target.get("name", "")) if target.get("kind") == "Pod" else None
        return labels is not None and all(labels.get(key) == value for key, value in wanted)

    return selected


def slice_port(endpoint_slice: Slice, port: int) -> int | None:
    """``port`` when the slice lists it (a numbered port; the number is the endpoints' own port)."""
    for candidate in endpoint_slice.get("ports") or ():
        if candidate.get("port") == port and candidate.get("protocol", "TCP") == "TCP":
            return port
    return None


def _condition(conditions: Mapping[str, Any], name: str, unset: bool) -> bool:
    value = conditions.get(name)
    return unset if value is None else bool(value)


def _addresses(
    slices: Iterable[Slice], port: int, selected: EndpointFilter | None
) -> tuple[set[str], set[str]]:
    """(ready addresses, terminating-but-serving addresses) of the slices that list ``port``."""
    ready: set[str] = set()
    draining: set[str] = set()
    for endpoint_slice in slices:
        if endpoint_slice.get("addressType", "IPv4") == "FQDN" or slice_port(endpoint_slice, port) is None:
            continue
        for endpoint in endpoint_slice.get("endpoints") or ():
            addresses = endpoint.get("addresses") or ()
            if not addresses or (selected is not None and not selected(endpoint)):
                continue
            conditions = endpoint.get("conditions") or {}
            is_ready = _condition(conditions, "ready", unset=True)
            terminating = _condition(conditions, "terminating", unset=False)
            if is_ready and not terminating:
                ready.add(addresses[0])
            elif terminating and _condition(conditions, "serving", unset=is_ready):
                draining.add(addresses[0])
    return ready, draining


def endpoints_for_port(
    slices: Iterable[Slice], port: int, selected: EndpointFilter | None = None
) -> tuple[ir.Endpoint, ...]:
    """The endpoints for ``port`` (of the pods ``selected`` lets through), sorted by address so every
    replica builds the same bytes."""
    ready, draining = _addresses(slices, port, selected)
    chosen = ready or draining
    return tuple(ir.Endpoint(address, port) for address in sorted(chosen))
