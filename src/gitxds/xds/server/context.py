"""What every stream of one server shares: metrics, memo, name sets and the event sink."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gitxds.metrics import Metrics
from gitxds.xds.server.planner import SharedMemo
from gitxds.xds.server.state import InFlight, NameSets, StreamState, TypeState
from gitxds.xds.server.status import XdsEvent


@dataclass(eq=False)
class ServerContext:
    metrics: Metrics
    emit: Callable[[XdsEvent], None]
    memo: SharedMemo = field(default_factory=SharedMemo)
    name_sets: NameSets = field(default_factory=NameSets)
    clock: Callable[[], float] = time.monotonic

    def settle(self, stream: StreamState, state: TypeState, error: str | None) -> None:
        """Record the proxy's answer to the response in flight: ACK when ``error`` is None, else NACK."""
        flight = state.in_flight
        if flight is None:
            return
        state.in_flight = None
        if error is None:
            state.acked = flight.sent
            state.known = None
            state.acked_config_version = flight.config_version
            state.nacked_version = ""
            state.nack_error = ""
        else:
            state.nacked_version = flight.sent.version
            state.nack_error = error
            self.metrics.record_nack(state.type_url)
        self.emit(self._event(stream, state, flight, error))

    def sent(self, stream: StreamState, state: TypeState, flight: InFlight, payload: bytes) -> bytes:
        state.in_flight = flight
        state.last_nonce = flight.nonce
        self.metrics.record_push(state.type_url, len(payload))
        return payload

    def _event(self, stream: StreamState, state: TypeState, flight: InFlight, error: str | None) -> XdsEvent:
        return XdsEvent(
            node_id=stream.node_id,
            group=stream.group,
            type_url=state.type_url,
            version=flight.sent.version,
            config_version=flight.config_version,
            error=error,
            monotonic_time=self.clock(),
        )
