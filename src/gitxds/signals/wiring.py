"""A SignalStore and its receiver that read prices and tiers from whatever config is being served."""

from __future__ import annotations

from collections.abc import Callable

from gitxds import ir
from gitxds.signals.als import AccessLogReceiver
from gitxds.signals.store import SignalStore

__all__ = ["signals_for"]

CurrentModel = Callable[[], ir.Model | None]


def signals_for(current_model: CurrentModel) -> tuple[SignalStore, AccessLogReceiver]:
    def price(backend: str) -> tuple[float, float] | None:
        model = current_model()
        try:
            pricing = model.backend(backend).pricing if model is not None else None
        except KeyError:  # a backend the served config no longer has
            return None
        return (pricing.input_per_million, pricing.output_per_million) if pricing is not None else None

    def tiers() -> frozenset[str]:
        model = current_model()
        return frozenset(t for p in model.rate_limit_policies for t in p.tiers) if model else frozenset()

    store = SignalStore(pricing=price)
    return store, AccessLogReceiver(store, tiers)
