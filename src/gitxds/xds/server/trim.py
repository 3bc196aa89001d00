"""Give memory freed by large requests back to the operating system.

A stream subscribed to 100,000 names frees everything when it closes, but glibc keeps freed heap
pages for reuse, so the process would stay at its high-water mark. Two glibc settings fix that (both
are no-ops without glibc): blocks of 128 KiB and more always get their own mapping, returned the
moment they are freed (glibc otherwise raises that threshold after the first large free, and large
request buffers then fragment the heap); and ``malloc_trim`` returns the freed heap pages, at most
once per event-loop turn, after a stream that held many names ends.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
from collections.abc import Callable
from typing import Any

__all__ = ["MemoryTrimmer", "map_large_blocks"]

_M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)
_LARGE_BLOCK = 128 * 1024


def _glibc(symbol: str) -> Any:
    path = ctypes.util.find_library("c")
    if path is None:
        return None
    try:
        return getattr(ctypes.CDLL(path), symbol)
    except (OSError, AttributeError):
        return None  # not glibc


def map_large_blocks() -> None:
    """Pin glibc's mmap threshold, so large blocks go back to the system when freed."""
    mallopt = _glibc("mallopt")
    if mallopt is not None:
        mallopt(_M_MMAP_THRESHOLD, _LARGE_BLOCK)


def _glibc_trim() -> Callable[[], None] | None:
    malloc_trim = _glibc("malloc_trim")
    if malloc_trim is None:
        return None
    malloc_trim.argtypes = [ctypes.c_size_t]
    return lambda: malloc_trim(0)


class MemoryTrimmer:
    def __init__(self) -> None:
        self._trim = _glibc_trim()
        self._scheduled = False
        self.trims = 0

    def soon(self) -> None:
        """Trim once the current burst of stream endings has been handled."""
        if self._trim is None or self._scheduled:
            return
        self._scheduled = True
        asyncio.get_running_loop().call_soon(self._run)

    def _run(self) -> None:
        self._scheduled = False
        self.trims += 1
        if self._trim is not None:
            self._trim()
