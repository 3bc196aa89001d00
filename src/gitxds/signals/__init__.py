"""Signals from every Envoy, off the request path: access logs received over gRPC (ALS), kept as
bounded, windowed aggregates per backend (for rollouts) and per key (usage). No protobuf in the
public surface except the receiver, which speaks Envoy's protocol."""

from gitxds.signals.als import AccessLogReceiver, decode_entry
from gitxds.signals.records import OTHER, AccessRecord, BackendWindow, key_hash
from gitxds.signals.store import SignalStore, UsageTotals

__all__ = [
    "OTHER",
    "AccessLogReceiver",
    "AccessRecord",
    "BackendWindow",
    "SignalStore",
    "UsageTotals",
    "decode_entry",
    "key_hash",
]
