"""What is served, what was refused and why: the state behind ``/status`` and ``gitxds status``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from gitxds.errors import Diagnostic


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt to serve a version of the config (a commit, or a content hash outside Git)."""

    version: str
    at: float
    accepted: bool
    trigger: str
    diagnostics: tuple[Diagnostic, ...] = ()
    build_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "at": _iso(self.at),
            "result": "served" if self.accepted else "rejected",
            "trigger": self.trigger,
            "build_seconds": round(self.build_seconds, 6),
            "diagnostics": [d.to_json() for d in self.diagnostics],
        }


@dataclass(frozen=True, slots=True)
class ReloadFailure:
    """A reload that broke on something other than the config (I/O, a bug); nothing was changed."""

    trigger: str
    at: float
    step: str  # read, build, check, publish or endpoints
    reason: str  # io_error or internal_error: the label of gitxds_reload_failures_total
    message: str  # secret values redacted

    @property
    def accepted(self) -> bool:
        return False  # like a rejected Attempt: nothing new is served

    def to_json(self) -> dict[str, Any]:
        return {
            "at": _iso(self.at),
            "trigger": self.trigger,
            "step": self.step,
            "reason": self.reason,
            "message": self.message,
        }


@dataclass(slots=True)
class ConfigStatus:
    """Mutable record owned by the reconciler; read by the admin endpoint."""

    config_dir: str
    served: Attempt | None = None
    last_attempt: Attempt | None = None
    last_rejected: Attempt | None = None
    gateways: tuple[str, ...] = ()
    snapshot_versions: dict[str, str] = field(default_factory=dict)  # gateway -> snapshot version
    last_failure: ReloadFailure | None = None
    failures: int = 0
    envoy_check: str = "off"  # how the last candidate was checked by a real Envoy
    # Set when what is served was restored from Git history at start (the head was invalid).
    restored: dict[str, Any] | None = None

    def record(self, attempt: Attempt) -> None:
        self.last_attempt = attempt
        if attempt.accepted:
            self.served = attempt
        else:
            self.last_rejected = attempt

    def to_json(self) -> dict[str, Any]:
        return {
            "config_dir": self.config_dir,
            "served": self.served.to_json() if self.served else None,
            "last_attempt": self.last_attempt.to_json() if self.last_attempt else None,
            "last_rejected": self.last_rejected.to_json() if self.last_rejected else None,
            "last_failure": self.last_failure.to_json() if self.last_failure else None,
            "failures": self.failures,
            "envoy_check": self.envoy_check,
            "restored_from_history": self.restored,
            "gateways": [
                {"name": g, "snapshot_version": self.snapshot_versions.get(g)} for g in self.gateways
            ],
        }


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"
