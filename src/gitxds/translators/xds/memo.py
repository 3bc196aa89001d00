"""Re-translate only the Envoy resources whose inputs changed, across builds of one process.

The builders are pure functions of immutable IR values, so a resource built from the very same
``ir.Rule`` or ``ir.Backend`` object (the incremental compile hands back the same object for every
document that did not change) with equal other arguments is the resource built last time. The memo
checks identity (cheap, and exact: immutable values cannot change behind it), keeps the object alive
so its id is not reused, and compares the remaining arguments by value. What every builder of a
gateway shares (the secret values, the filter plan) is compared once per build: when it changes the
gateway's entries are all dropped. Entries not used by a build are forgotten at its end, so the memo
never holds more than the current config. Callers must not modify the messages it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from gitxds.translators.xds.incremental import GatewayState

__all__ = ["TranslationMemo"]

M = TypeVar("M")


@dataclass(slots=True)
class _GatewayTables:
    shared: Hashable = None
    current: dict[tuple[str, int], tuple[object, Hashable, Any]] = field(default_factory=dict)
    used: dict[tuple[str, int], tuple[object, Hashable, Any]] = field(default_factory=dict)


class TranslationMemo:
    """Per gateway and builder: the resource last built from one IR object. One build at a time."""

    def __init__(self) -> None:
        self._gateways: dict[str, _GatewayTables] = {}
        self.built = 0  # resources built (not reused) in the last build
        # What ``translate_incrementally`` keeps per gateway (serve's builds; see :mod:`.incremental`).
        self.states: dict[str, GatewayState] = {}

    def begin(self, gateway: str, shared: Hashable) -> None:
        tables = self._gateways.setdefault(gateway, _GatewayTables())
        if tables.shared != shared:
            tables.current = {}
        tables.shared = shared
        tables.used = {}
        self.built = 0

    def end(self, gateway: str, gateways: frozenset[str] | None = None) -> None:
        tables = self._gateways[gateway]
        tables.current, tables.used = tables.used, {}
        if gateways is not None:
            for gone in set(self._gateways) - gateways:
                del self._gateways[gone]

    def build(self, gateway: str, builder: str, source: object, extra: Hashable, make: Callable[[], M]) -> M:
        """``make()``'s resource, or the one made last time from ``source`` (same object) and ``extra``."""
        tables = self._gateways[gateway]
        key = (builder, id(source))
        entry = tables.current.get(key)
        if entry is None or entry[0] is not source or entry[1] != extra:
            entry = (source, extra, make())
            self.built += 1
        tables.used[key] = entry
        value: M = entry[2]
        return value
