"""Pausing Python's cyclic garbage collector while config files are parsed.

Parsing allocates many small objects that survive (the parsed documents), and the collector's passes
over them cost a good part of a load: ``python -m bench.gc_pause`` measures a cold load and compile
of 10k backends at a median 4.2 s of CPU without the pause and 3.1 s with it (1k backends: 0.28 s and
0.25 s). The collector is process-wide, so the config loader pauses it around reading and parsing
only (never compile, translate or publish), on the thread that loads; pauses from several threads
nest, and the collector runs again when the last one ends.

``gitxds serve`` goes further around each build (:func:`build_paused`): the collector stays paused
through read, compile, translate and snapshot, and what is alive at the end (the served model and
its snapshots, by far most of the heap at fleet size) is frozen out of the collector's reach. A
full pass over a 10k-service heap took about 0.6 s, ran every two or three one-route edits, and
found nothing to free: the model holds no reference cycles, refcounting frees replaced versions.
Cycles that do become garbage while frozen are freed by a full pass that runs when the frozen heap
has doubled since the last one (counted every 32nd freeze: counting walks the heap), so they never
hold much more than the live heap.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["build_paused", "collector_paused"]

_lock = threading.Lock()
_pauses = 0
_was_enabled = False
_frozen_after_full_pass = 0  # gc.get_freeze_count() after the last full pass
_freezes = 0


@contextmanager
def collector_paused() -> Iterator[None]:
    global _pauses, _was_enabled  # noqa: PLW0603 - one process-wide collector, one count of pauses
    with _lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()


@contextmanager
def build_paused() -> Iterator[None]:
    """The collector paused for a whole build; what survives it is frozen (see the module doc)."""
    with collector_paused():
        yield
        _freeze_survivors()


def _freeze_survivors() -> None:
    global _frozen_after_full_pass, _freezes  # noqa: PLW0603 - one process-wide collector
    with _lock:
        gc.freeze()
        _freezes += 1
        if _freezes % 32 != 1:
            return
        frozen = gc.get_freeze_count()
        if _frozen_after_full_pass == 0:  # the first build: nothing replaced yet, nothing to free
            _frozen_after_full_pass = frozen
        elif frozen > 2 * _frozen_after_full_pass:
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            _frozen_after_full_pass = gc.get_freeze_count()
