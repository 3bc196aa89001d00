"""Runs one xDS stream: reads requests, follows snapshot changes, writes responses as bytes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Callable
from typing import Any

import grpc

from gitxds import typeurls
from gitxds.xds.cache import Snapshot, SnapshotSource
from gitxds.xds.server.context import ServerContext
from gitxds.xds.server.delta import handle_delta_request, plan_delta
from gitxds.xds.server.identity import peer_identities
from gitxds.xds.server.limits import InvalidRequestError, LimitExceededError, PermissionDeniedError
from gitxds.xds.server.sotw import handle_sotw_request, plan_sotw
from gitxds.xds.server.state import EMPTY_NAMES, StreamState
from gitxds.xds.server.status import Variant

_TRIM_AFTER_NAMES = 10_000  # a stream that asked for this many names leaves megabytes freed behind
_SERVED = ", ".join(sorted(typeurls.SHORT_NAMES))
_SERVED_TYPES = {type_url: type_url for type_url in typeurls.SHORT_NAMES}
_CHANGED = object()
_ENDED = object()

Handler = Callable[[ServerContext, StreamState, Any, str], None]
Planner = Callable[[ServerContext, StreamState, Snapshot], list[bytes]]

_PROTOCOLS: dict[Variant, tuple[Handler, Planner]] = {
    Variant.SOTW: (handle_sotw_request, plan_sotw),
    Variant.DELTA: (handle_delta_request, plan_delta),
}


def _refusal_reason(error: InvalidRequestError) -> str:
    if isinstance(error, PermissionDeniedError):
        return "identity"
    return "limit" if isinstance(error, LimitExceededError) else "invalid"


class _Inbox:
    """What one stream has to apply, in arrival order, awaited by that stream's loop alone.

    An ``asyncio.Queue`` would do, but it holds three deques and an Event (about 3 KB) on each of
    thousands of idle streams; this holds a list and, while its stream waits, one future."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[object] = []
        self._waiter: asyncio.Future[None] | None = None

    def __bool__(self) -> bool:
        return bool(self._items)

    def put(self, item: object) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def take_all(self) -> list[object]:
        """Everything queued, waiting for at least one item."""
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        items, self._items = self._items, []
        return items


class StreamRunner:
    """Serves one stream. ``fixed_type`` is the type of a per-type service, None for ADS.

    Thousands of these live at once, so they keep slots and no per-stream logger, queue or metric."""

    __slots__ = (
        "_handle",
        "_inbox",
        "_names_asked",
        "_plan",
        "_working",
        "cache",
        "ctx",
        "fixed_type",
        "identities",
        "requests_applied",
        "responses_written",
        "state",
    )

    def __init__(
        self,
        cache: SnapshotSource,
        ctx: ServerContext,
        variant: Variant,
        fixed_type: str | None,
    ) -> None:
        self.cache = cache
        self.ctx = ctx
        self.fixed_type = fixed_type
        self.state = StreamState(variant=variant, aggregated=fixed_type is None)
        self._handle, self._plan = _PROTOCOLS[variant]
        self._inbox = _Inbox()
        self.identities = EMPTY_NAMES  # SANs of the peer's verified certificate
        self._names_asked = 0
        self._working = False  # applying inbox items or writing their responses
        self.requests_applied = 0
        self.responses_written = 0

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing being applied or written."""
        return not self._working and not self._inbox

    async def run(self, requests: AsyncIterable[Any], context: grpc.aio.ServicerContext) -> None:
        """Serve until the proxy closes the stream. Writes with ``context.write`` so that no frame,
        here or in gRPC, keeps the last (possibly large) response alive while the stream idles."""
        if self.ctx.identity_policy is not None:
            self.identities = peer_identities(context)
        unwatch = self.cache.watch(self._on_change)
        reader = asyncio.create_task(self._read(requests))
        try:
            while await self._apply_pending():
                responses = self._responses()
                while responses:
                    await context.write(responses.pop(0))
                    self.responses_written += 1
                self._working = False
        except InvalidRequestError as error:
            self.ctx.metrics.xds_refused.labels(reason=_refusal_reason(error)).inc()
            await context.abort(error.code, str(error))
        finally:
            unwatch()
            reader.cancel()
            for type_state in self.state.types.values():
                self.ctx.name_sets.release(type_state.names)
            if self._names_asked >= _TRIM_AFTER_NAMES:
                self.ctx.trimmer.soon()

    async def _apply_pending(self) -> bool:
        """Wait for input, then apply everything queued; False when the stream is over."""
        items = await self._inbox.take_all()
        self._working = True
        return all(self._apply(item) for item in items)  # stops at the end of the stream

    def _on_change(self, group: str) -> None:
        if not self.state.change_pending:
            self.state.change_pending = True
            self._inbox.put(_CHANGED)

    async def _read(self, requests: AsyncIterable[Any]) -> None:
        try:
            async for request in requests:
                self._inbox.put(request)
                del request  # a SotW EDS request can name thousands of clusters; do not hold it idle
        except (asyncio.CancelledError, grpc.aio.AioRpcError):
            pass
        finally:
            self._inbox.put(_ENDED)

    def _apply(self, item: object) -> bool:
        """Apply one inbox item; False when the stream is over."""
        if item is _ENDED:
            return False
        if item is _CHANGED:
            self.state.change_pending = False
            self._resolve_group()
            return True
        self._apply_request(item)
        return True

    def _apply_request(self, request: Any) -> None:
        self.requests_applied += 1
        state = self.state
        if not state.has_node and request.HasField("node"):
            self._check_node(request.node)
            state.has_node = True
            state.node_id = request.node.id
            state.node_cluster = request.node.cluster
            self._resolve_group()
        asked = request.type_url or self.fixed_type
        if not asked:
            raise InvalidRequestError("request without type_url on an aggregated stream")
        # The module's own string, not the request's copy, is what the stream keeps.
        type_url = _SERVED_TYPES.get(asked)
        if type_url is None:
            # Never stored: only the five types gitxds serves get per-stream state.
            raise InvalidRequestError(f"unknown type URL {asked[:200]!r}; gitxds serves {_SERVED}")
        if self.fixed_type is not None and type_url != self.fixed_type:
            raise InvalidRequestError(f"{type_url} requested on the {self.fixed_type} service")
        self._check_names(request, type_url)
        self._handle(self.ctx, state, request, type_url)
        if len(state.types[type_url].names) > self.ctx.limits.max_names_per_type:
            raise LimitExceededError(
                f"more than {self.ctx.limits.max_names_per_type} {typeurls.SHORT_NAMES[type_url]} subscribed"
            )

    def _check_node(self, node: Any) -> None:
        limits = self.ctx.limits
        for field, value in (("node.id", node.id), ("node.cluster", node.cluster)):
            if len(value) > limits.max_node_id_chars:
                raise LimitExceededError(f"{field} is longer than {limits.max_node_id_chars} characters")
        if node.ByteSize() > limits.max_node_bytes:
            raise LimitExceededError(f"node (with its metadata) is larger than {limits.max_node_bytes} bytes")

    def _check_names(self, request: Any, type_url: str) -> None:
        if self.state.variant is Variant.SOTW:
            count = len(request.resource_names)
        else:
            count = (
                len(request.resource_names_subscribe)
                + len(request.resource_names_unsubscribe)
                + len(request.initial_resource_versions)
            )
        self._names_asked += count
        if count > self.ctx.limits.max_names_per_request:
            raise LimitExceededError(
                f"{count} resource names in one {typeurls.SHORT_NAMES[type_url]} request; "
                f"the limit is {self.ctx.limits.max_names_per_request}"
            )

    def _resolve_group(self) -> None:
        if not self.state.has_node:
            return
        group = self.cache.resolve(self.state.node_id, self.state.node_cluster)
        policy = self.ctx.identity_policy
        if group is not None and policy is not None and not self.identities & policy(group):
            self.state.group = None
            self.ctx.refusals.record(group, self.state.node_id, self.identities)
            raise PermissionDeniedError(
                f"this certificate may not receive gateway {group!r}: it carries none of the gateway's "
                "proxies.identities"
            )
        self.state.group = group

    def current_snapshot(self) -> Snapshot | None:
        group = self.state.group
        return self.cache.get(group) if group is not None else None

    def _responses(self) -> list[bytes]:
        snapshot = self.current_snapshot()
        if snapshot is None:
            return []
        return self._plan(self.ctx, self.state, snapshot)
