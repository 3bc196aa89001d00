"""Runs one xDS stream: reads requests, follows snapshot changes, writes responses as bytes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, Callable
from typing import Any

import grpc

from gitxds.xds.cache import Snapshot, SnapshotSource
from gitxds.xds.server.context import ServerContext
from gitxds.xds.server.delta import handle_delta_request, plan_delta
from gitxds.xds.server.sotw import handle_sotw_request, plan_sotw
from gitxds.xds.server.state import StreamState
from gitxds.xds.server.status import Variant

_CHANGED = object()
_ENDED = object()

Handler = Callable[[ServerContext, StreamState, Any, str], None]
Planner = Callable[[ServerContext, StreamState, Snapshot], list[bytes]]

_PROTOCOLS: dict[Variant, tuple[Handler, Planner]] = {
    Variant.SOTW: (handle_sotw_request, plan_sotw),
    Variant.DELTA: (handle_delta_request, plan_delta),
}


class InvalidRequestError(Exception):
    pass


class StreamRunner:
    """Serves one stream. ``fixed_type`` is the type of a per-type service, None for ADS."""

    def __init__(
        self,
        cache: SnapshotSource,
        ctx: ServerContext,
        variant: Variant,
        fixed_type: str | None,
        logger: logging.Logger,
    ) -> None:
        self.cache = cache
        self.ctx = ctx
        self.fixed_type = fixed_type
        self.logger = logger
        self.state = StreamState(variant=variant, aggregated=fixed_type is None)
        self._handle, self._plan = _PROTOCOLS[variant]
        self._inbox: asyncio.Queue[object] = asyncio.Queue()

    async def run(self, requests: AsyncIterable[Any], context: grpc.aio.ServicerContext) -> None:
        """Serve until the proxy closes the stream. Writes with ``context.write`` so that no frame,
        here or in gRPC, keeps the last (possibly large) response alive while the stream idles."""
        unwatch = self.cache.watch(self._on_change)
        reader = asyncio.create_task(self._read(requests))
        try:
            while await self._apply_pending():
                responses = self._responses()
                while responses:
                    await context.write(responses.pop(0))
        except InvalidRequestError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        finally:
            unwatch()
            reader.cancel()
            for type_state in self.state.types.values():
                self.ctx.name_sets.release(type_state.names)

    async def _apply_pending(self) -> bool:
        """Wait for input, then apply everything queued; False when the stream is over."""
        if not self._apply(await self._inbox.get()):
            return False
        while not self._inbox.empty():
            if not self._apply(self._inbox.get_nowait()):
                return False
        return True

    def _on_change(self, group: str) -> None:
        if not self.state.change_pending:
            self.state.change_pending = True
            self._inbox.put_nowait(_CHANGED)

    async def _read(self, requests: AsyncIterable[Any]) -> None:
        try:
            async for request in requests:
                self._inbox.put_nowait(request)
                del request  # a SotW EDS request can name thousands of clusters; do not hold it idle
        except (asyncio.CancelledError, grpc.aio.AioRpcError):
            pass
        finally:
            self._inbox.put_nowait(_ENDED)

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
        state = self.state
        if not state.has_node and request.HasField("node"):
            state.has_node = True
            state.node_id = request.node.id
            state.node_cluster = request.node.cluster
            self._resolve_group()
        type_url = request.type_url or self.fixed_type
        if not type_url:
            raise InvalidRequestError("request without type_url on an aggregated stream")
        if self.fixed_type is not None and type_url != self.fixed_type:
            raise InvalidRequestError(f"{type_url} requested on the {self.fixed_type} service")
        self._handle(self.ctx, state, request, type_url)

    def _resolve_group(self) -> None:
        if self.state.has_node:
            self.state.group = self.cache.resolve(self.state.node_id, self.state.node_cluster)

    def current_snapshot(self) -> Snapshot | None:
        group = self.state.group
        return self.cache.get(group) if group is not None else None

    def _responses(self) -> list[bytes]:
        snapshot = self.current_snapshot()
        if snapshot is None:
            return []
        return self._plan(self.ctx, self.state, snapshot)
