"""Incremental (delta) xDS: per-resource versions, removals, subscribe and unsubscribe."""

from __future__ import annotations

from typing import Any

from gitxds import typeurls
from gitxds.xds.cache import EncodedResource, ResourceSet, Snapshot, delta_changes
from gitxds.xds.cache.encoding import string_field
from gitxds.xds.server.context import ServerContext
from gitxds.xds.server.planner import desired_set, replan
from gitxds.xds.server.state import EMPTY_NAMES, InFlight, StreamState, TypeState

WILDCARD = "*"


def handle_delta_request(ctx: ServerContext, stream: StreamState, request: Any, type_url: str) -> None:
    """Apply one DeltaDiscoveryRequest; nonces only matter for ACK/NACK, never for subscriptions."""
    state = stream.type_state(type_url)
    replan(stream, type_url)
    flight = state.in_flight
    if request.response_nonce and flight is not None and request.response_nonce == flight.nonce:
        error = request.error_detail.message if request.HasField("error_detail") else None
        ctx.settle(stream, state, error)
    subscribe = set(request.resource_names_subscribe)
    unsubscribe = set(request.resource_names_unsubscribe)
    added: set[str] = subscribe
    if not state.subscribed:
        state.subscribed = True
        state.wildcard = not subscribe or WILDCARD in subscribe
        initial = dict(request.initial_resource_versions)
        if initial:
            state.known = initial
            added = subscribe.difference(initial)
    else:
        state.wildcard = state.wildcard or WILDCARD in subscribe
    if WILDCARD in unsubscribe:
        state.wildcard = False
    if added or state.forced:
        state.forced = frozenset((state.forced | added) - unsubscribe - {WILDCARD}) or EMPTY_NAMES
    _update_names(ctx, state, subscribe, unsubscribe)


def _update_names(ctx: ServerContext, state: TypeState, subscribe: set[str], unsubscribe: set[str]) -> None:
    names = (state.names | subscribe) - unsubscribe - {WILDCARD}
    if names != state.names:
        ctx.name_sets.release(state.names)
        state.names = ctx.name_sets.acquire(names)
    client = state.client_versions()
    if any(name in client for name in unsubscribe):
        # The proxy drops what it unsubscribed; never tell it later that those were removed.
        state.known = {name: version for name, version in client.items() if name not in unsubscribe}


def plan_delta(ctx: ServerContext, stream: StreamState, snapshot: Snapshot) -> list[bytes]:
    """Responses to send now, in make-before-break order; at most one in flight per type."""
    responses: list[bytes] = []
    for type_url in typeurls.PUSH_ORDER:
        state = stream.types.get(type_url)
        if state is None or not state.subscribed or state.in_flight is not None:
            continue
        table = snapshot.resources(type_url)
        if state.planned_from is table:
            continue  # nothing it depends on changed since it was last planned: a fan-out skips it
        desired = desired_set(stream, snapshot, type_url, ctx.memo, ctx.name_sets)
        body = _response_body(ctx, state, desired)
        state.forced = EMPTY_NAMES
        state.planned_from = table
        if body is None:
            continue
        nonce = stream.next_nonce()
        flight = InFlight(nonce, desired, snapshot.config_version)
        responses.append(ctx.sent(stream, state, flight, body + string_field(5, nonce)))
        replan(stream, type_url)  # what it keeps alive may grow with the set in flight
    return responses


def _response_body(ctx: ServerContext, state: TypeState, desired: ResourceSet) -> bytes | None:
    """The response without its nonce, or None when the proxy already has what it should."""
    forced = state.forced
    if not forced and desired.version == state.nacked_version:
        return None  # never re-send a rejected version; wait for a newer one
    acked = state.acked
    if not forced and state.known is None and acked is not None:
        if acked.version == desired.version:
            return None
        return ctx.memo.get(("delta", acked, desired), lambda: _body_between(acked, desired, ()))
    first_answer = acked is None and state.known is None and state.wildcard
    changed, removed = delta_changes(state.client_versions(), desired, sorted(forced))
    if not changed and not removed and not first_answer:
        if state.known is not None:
            state.acked, state.known = desired, None  # the proxy already holds exactly this set
        return None
    return _encode(desired, changed, removed)


def _body_between(acked: ResourceSet, desired: ResourceSet, forced: tuple[str, ...]) -> bytes:
    changed, removed = delta_changes(acked.versions(), desired, forced)
    return _encode(desired, changed, removed)


def _encode(desired: ResourceSet, changed: list[EncodedResource], removed: list[str]) -> bytes:
    parts: list[bytes] = []
    for resource in changed:
        parts.append(resource.delta_prefix)
        parts.append(resource.any_bytes)
    parts.extend(string_field(6, name) for name in removed)
    parts.append(string_field(1, desired.version))
    parts.append(string_field(4, desired.type_url))
    return b"".join(parts)
