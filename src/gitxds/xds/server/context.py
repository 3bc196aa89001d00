"""What every stream of one server shares: metrics, limits, memo, name sets and the event sink."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gitxds.metrics import Metrics
from gitxds.safetext import printable
from gitxds.xds.server.identity import IdentityPolicy, RefusalLog
from gitxds.xds.server.limits import XdsLimits
from gitxds.xds.server.planner import SharedMemo
from gitxds.xds.server.state import InFlight, NameSets, StreamState, TypeState
from gitxds.xds.server.status import XdsEvent
from gitxds.xds.server.trim import MemoryTrimmer


@dataclass(eq=False)
class ServerContext:
    metrics: Metrics
    emit: Callable[[XdsEvent], None]
    limits: XdsLimits = field(default_factory=XdsLimits)
    # Set when client certificates are required: a stream gets a gateway only with one of its identities.
    identity_policy: IdentityPolicy | None = None
    refusals: RefusalLog = field(default_factory=lambda: RefusalLog(logging.getLogger("gitxds.xds.server")))
    memo: SharedMemo = field(default_factory=SharedMemo)
    trimmer: MemoryTrimmer = field(default_factory=MemoryTrimmer)
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
            error = printable(error, self.limits.max_shown_chars)  # a proxy's text: cut and escaped
            state.nacked_version = flight.sent.version
            state.nack_error = error
            self.metrics.record_nack(state.type_url)
        self.emit(self._event(stream, state, flight, error))

    def sent(self, stream: StreamState, state: TypeState, flight: InFlight, payload: bytes) -> bytes:
        state.in_flight = flight
        state.last_nonce = flight.nonce
        self.metrics.record_push(state.type_url, len(payload))
        return payload

    def shown(self, text: str) -> str:
        """A proxy-supplied string as logs and status show it."""
        return printable(text, self.limits.max_shown_chars)

    def _event(self, stream: StreamState, state: TypeState, flight: InFlight, error: str | None) -> XdsEvent:
        return XdsEvent(
            node_id=self.shown(stream.node_id),
            group=stream.group,
            type_url=state.type_url,
            version=flight.sent.version,
            config_version=flight.config_version,
            error=error,
            monotonic_time=self.clock(),
        )
