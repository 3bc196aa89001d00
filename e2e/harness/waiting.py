"""Polling with a deadline: the one way tests wait for something to become true."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeoutError(AssertionError):
    """A condition did not hold before its deadline (an AssertionError so pytest reports it plainly)."""


class GiveUpError(AssertionError):
    """Raised by a predicate when waiting longer is pointless (the process it watches has died)."""


def wait_for(
    predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.05, message: str = ""
) -> T:
    """Call ``predicate`` until it returns something truthy and return that; raise WaitTimeoutError after
    ``timeout`` seconds. Exceptions raised by the predicate count as "not yet" until the deadline,
    then the last one is chained to the WaitTimeoutError."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = predicate()
        except GiveUpError:
            raise
        except Exception as error:
            last_error = error
        else:
            if result:
                return result
        if time.monotonic() >= deadline:
            what = message or getattr(predicate, "__name__", "condition")
            raise WaitTimeoutError(f"{what} not true after {timeout:.1f}s") from last_error
        time.sleep(interval)
