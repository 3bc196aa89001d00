"""Pausing Python's cyclic garbage collector around bulk builds."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]


@contextmanager
def collector_paused() -> Iterator[None]:
    """Loading allocates many small objects and frees nearly all of them by reference counting; the
    cyclic collector's repeated passes over the growing heap cost more than the loading itself."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
