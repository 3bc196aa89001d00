"""Polling with a deadline: the shared helper of tests/ and e2e/ (tests/waiting.py), for the harness."""

from __future__ import annotations

from waiting import GiveUpError, WaitTimeoutError, eventually, wait_for

__all__ = ["GiveUpError", "WaitTimeoutError", "eventually", "wait_for"]
