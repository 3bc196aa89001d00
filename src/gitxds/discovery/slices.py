"""EndpointSlices of one Service -> the endpoints Envoy should send traffic to, for one port.

Conditions follow the EndpointSlice API: an unset ``ready`` means true, an unset ``serving`` defers
to ``ready``, an unset ``terminating`` means false. Ready endpoints get traffic. Only when none of the
Service's endpoints for the port is ready do terminating endpoints that still report ``serving`` get
it, so a rolling update that briefly has nothing ready drains instead of failing every request.
Not-ready endpoints are never used. Only an endpoint's first address is used, as the API asks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gitxds import ir

__all__ = ["SERVICE_NAME_LABEL", "endpoints_for_port", "slice_port"]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"

Slice = Mapping[str, Any]  # a discovery.k8s.io/v1 EndpointSlice as JSON


def slice_port(endpoint_slice: Slice, port: int) -> int | None:
    """``port`` when the slice lists it (a numbered port; the number is the endpoints' own port)."""
    for candidate in endpoint_slice.get("ports") or ():
        if candidate.get("port") == port and candidate.get("protocol", "TCP") == "TCP":
            return port
    return None


def _condition(conditions: Mapping[str, Any], name: str, unset: bool) -> bool:
    value = conditions.get(name)
    return unset if value is None else bool(value)


def _addresses(slices: Iterable[Slice], port: int) -> tuple[set[str], set[str]]:
    """(ready addresses, terminating-but-serving addresses) of the slices that list ``port``."""
    ready: set[str] = set()
    draining: set[str] = set()
    for endpoint_slice in slices:
        if endpoint_slice.get("addressType", "IPv4") == "FQDN" or slice_port(endpoint_slice, port) is None:
            continue
        for endpoint in endpoint_slice.get("endpoints") or ():
            addresses = endpoint.get("addresses") or ()
            if not addresses:
                continue
            conditions = endpoint.get("conditions") or {}
            is_ready = _condition(conditions, "ready", unset=True)
            terminating = _condition(conditions, "terminating", unset=False)
            if is_ready and not terminating:
                ready.add(addresses[0])
            elif terminating and _condition(conditions, "serving", unset=is_ready):
                draining.add(addresses[0])
    return ready, draining


def endpoints_for_port(slices: Iterable[Slice], port: int) -> tuple[ir.Endpoint, ...]:
    """The endpoints for ``port``, sorted by address so every replica builds the same bytes."""
    ready, draining = _addresses(slices, port)
    chosen = ready or draining
    return tuple(ir.Endpoint(address, port) for address in sorted(chosen))
