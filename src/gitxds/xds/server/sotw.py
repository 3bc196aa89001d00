"""State-of-the-World xDS: full sets per type, version_info per response, stale nonces ignored."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gitxds import typeurls
from gitxds.xds.cache import ResourceSet, Snapshot
from gitxds.xds.cache.encoding import string_field
from gitxds.xds.server.context import ServerContext
from gitxds.xds.server.planner import desired_set
from gitxds.xds.server.state import InFlight, StreamState, TypeState

WILDCARD = "*"


def handle_sotw_request(ctx: ServerContext, stream: StreamState, request: Any, type_url: str) -> None:
    """Apply one DiscoveryRequest to the stream's state; responses come from :func:`plan_sotw`."""
    state = stream.type_state(type_url)
    nonce = request.response_nonce
    if nonce and nonce != state.last_nonce:
        return  # stale: the proxy has not seen our latest response yet and will answer it
    is_nack = request.HasField("error_detail")
    if not state.subscribed and not nonce:
        state.claimed_version = request.version_info
    if state.in_flight is not None and nonce == state.in_flight.nonce:
        ctx.settle(stream, state, request.error_detail.message if is_nack else None)
    _update_subscription(ctx, state, request.resource_names)
    if state.answer_next_request and not is_nack:
        state.force_send = True
        state.answer_next_request = False


def _update_subscription(ctx: ServerContext, state: TypeState, resource_names: Sequence[str]) -> None:
    names = set(resource_names)
    if not state.subscribed:
        state.subscribed = True
        state.legacy_wildcard = not names
    if state.legacy_wildcard and not names:
        state.wildcard = True
    else:
        state.legacy_wildcard = False
        state.wildcard = WILDCARD in names
    names.discard(WILDCARD)
    if names != state.names:
        ctx.name_sets.release(state.names)
        state.names = ctx.name_sets.acquire(names)


def plan_sotw(ctx: ServerContext, stream: StreamState, snapshot: Snapshot) -> list[bytes]:
    """Responses to send now, in make-before-break order (CDS, EDS, LDS, RDS)."""
    responses: list[bytes] = []
    for type_url in typeurls.PUSH_ORDER:
        state = stream.types.get(type_url)
        if state is None or not state.subscribed or state.in_flight is not None:
            continue
        desired = desired_set(stream, snapshot, type_url, ctx.memo, ctx.name_sets)
        if _already_held(state, desired, snapshot):
            continue
        if not _should_send(state, desired):
            continue
        nonce = stream.next_nonce()
        payload = desired.sotw_body() + string_field(5, nonce)
        responses.append(ctx.sent(stream, state, InFlight(nonce, desired, snapshot.config_version), payload))
        state.force_send = False
        state.answer_next_request = False
        if type_url == typeurls.CLUSTER and stream.aggregated:
            # Updated EDS clusters warm until they get an EDS response, changed or not.
            stream.type_state(typeurls.ENDPOINT).answer_next_request = True
    return responses


def _already_held(state: TypeState, desired: ResourceSet, snapshot: Snapshot) -> bool:
    """A proxy reconnecting (to this or another replica) with the version we would send is sent
    nothing: versions are content hashes, so equal versions mean equal resources."""
    claimed, state.claimed_version = state.claimed_version, ""
    if state.acked is not None or not claimed or claimed != desired.version:
        return False
    state.acked = desired
    state.acked_config_version = snapshot.config_version
    return True


def _should_send(state: TypeState, desired: ResourceSet) -> bool:
    if state.force_send:
        return True
    if state.acked is not None and state.acked.version == desired.version:
        return False
    if desired.version == state.nacked_version:
        return False  # never re-send a rejected version; wait for a newer one
    # A named subscription to resources that do not exist yet waits until one appears.
    return state.acked is not None or state.wildcard or bool(desired.resources)
