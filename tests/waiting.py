"""Waiting for a condition with a deadline: the one way tests (tests/ and e2e/) wait for something.

``await eventually(check)`` in async tests (yields to the event loop between checks);
``wait_for(check)`` in synchronous ones (e2e drives real processes from the test thread). Both return
the first truthy result; exceptions raised by ``check`` count as "not yet" until the deadline and
are then chained to the :class:`WaitTimeoutError`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

__all__ = ["GiveUpError", "WaitTimeoutError", "eventually", "wait_for"]


class WaitTimeoutError(AssertionError):
    """A condition did not hold before its deadline (an AssertionError so pytest reports it plainly)."""


class GiveUpError(AssertionError):
    """Raised by a check when waiting longer is pointless (the process it watches has died)."""


class _Poll:
    def __init__(self, check: Callable[[], T], timeout: float, message: str) -> None:
        self.check = check
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.message = message or getattr(check, "__name__", "condition")
        self.last_error: BaseException | None = None

    def once(self) -> T | None:
        """The check's result when truthy; None when not yet; raises once the deadline passed."""
        try:
            result = self.check()
        except GiveUpError:
            raise
        except Exception as error:
            self.last_error = error
        else:
            if result:
                return result
        if time.monotonic() >= self.deadline:
            raise WaitTimeoutError(f"{self.message} not true after {self.timeout:.1f}s") from self.last_error
        return None


async def eventually(
    check: Callable[[], T], timeout: float = 5.0, interval: float = 0.01, message: str = ""
) -> T:
    poll = _Poll(check, timeout, message)
    while (result := poll.once()) is None:
        await asyncio.sleep(interval)
    return result


def wait_for(check: Callable[[], T], timeout: float = 5.0, interval: float = 0.05, message: str = "") -> T:
    poll = _Poll(check, timeout, message)
    while (result := poll.once()) is None:
        time.sleep(interval)
    return result
