"""Rollout progress on disk, so a restart resumes every rollout at its step."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from gitxds.rollout.plan import Rollouts

__all__ = ["StateStore"]

_MAX_BYTES = 4 * 1024 * 1024  # a state file bigger than this is not ours


class StateStore:
    """One JSON file, replaced atomically on every change."""

    def __init__(self, path: Path, logger: logging.Logger | None = None) -> None:
        self.path = path
        self._log = logger or logging.getLogger("gitxds.rollout")

    def load(self) -> Rollouts:
        try:
            if self.path.stat().st_size > _MAX_BYTES:
                raise ValueError(f"larger than {_MAX_BYTES} bytes")
            return Rollouts.from_json(json.loads(self.path.read_text()))
        except FileNotFoundError:
            return Rollouts()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self._log.error("rollout state %s unreadable (%s); starting without rollouts", self.path, exc)
            return Rollouts()

    def save(self, state: Rollouts) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=".rollouts-")
        with os.fdopen(fd, "w") as out:
            json.dump(state.to_json(), out)
        os.replace(name, self.path)
