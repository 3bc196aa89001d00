"""A SignalStore and its receiver that read prices and tiers from whatever config is being served."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from gitxds import ir
from gitxds.signals.als import AccessLogReceiver
from gitxds.signals.store import SignalStore

__all__ = ["PriceCollector", "signals_for"]

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


class PriceCollector(Collector):
    """``gitxds_gen_ai_price_per_million{backend, token_type}`` from the served config, so Prometheus can
    turn Envoy's token counters into cost (tokens x price / 1e6) without gitxds keeping any count."""

    def __init__(self, current_model: CurrentModel) -> None:
        self._current_model = current_model

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "gitxds_gen_ai_price_per_million",
            "Price of a million tokens of a backend (Backend.spec.pricing), in the config's currency",
            labels=["backend", "token_type"],
        )
        model = self._current_model()
        for backend in model.backends if model is not None else ():
            if backend.pricing is not None:
                family.add_metric([backend.name, "input"], backend.pricing.input_per_million)
                family.add_metric([backend.name, "output"], backend.pricing.output_per_million)
        yield family
