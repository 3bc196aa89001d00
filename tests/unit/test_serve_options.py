"""``gitxds serve`` flags that bound the file watcher."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitxds.cli import build_parser
from gitxds.cli.serve import options_from
from gitxds.errors import UsageError
from gitxds.gitops.service import ServeOptions


def parse(tmp_path: Path, *flags: str) -> ServeOptions:
    return options_from(build_parser().parse_args(["serve", str(tmp_path), *flags]))


def test_a_zero_quiet_time_is_refused_because_the_watcher_would_spin(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--debounce 0ms: write at least 1ms"):
        parse(tmp_path, "--debounce", "0ms")


def test_the_shortest_quiet_time_and_a_zero_write_grace_are_taken(tmp_path: Path) -> None:
    options = parse(tmp_path, "--debounce", "1ms", "--write-grace", "0ms")
    assert options.watch_quiet_ms == 1
    assert options.write_grace_ms == 0
