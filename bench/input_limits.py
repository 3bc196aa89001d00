"""Time and peak memory of ``gitxds validate`` on hostile inputs: alias bombs and a 50 MB file.

Each input is a config directory with one hostile file; ``gitxds validate DIR`` runs in a child
process whose address space is capped (``--cap-mb``) so a bomb that would take the machine down is
reported as "over the cap" instead. Prints the median wall time, CPU time (user + system: what a
shared machine does not distort) and peak RSS (the child's ``ru_maxrss``) of ``--runs`` runs per
input, next to a baseline directory holding one Gateway (the cost of starting gitxds at all).

    python -m bench.input_limits [--runs 3] [--cap-mb 4096] [--timeout 120]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from harness.hostile import alias_bomb, large_config

GATEWAY = """\
apiVersion: gitxds.dev/v1alpha1
kind: Gateway
metadata: {name: edge}
spec:
  proxies: {cluster: edge}
  listeners: [{name: http, port: 10000}]
"""

INPUTS = {
    "baseline (one Gateway)": lambda: GATEWAY,
    "alias bomb, 5 levels": lambda: alias_bomb(5),
    "alias bomb, 8 levels": lambda: alias_bomb(8),
    "50 MB file": lambda: large_config(50 * 1024 * 1024),
}


def _run_once(directory: Path, cap_bytes: int, timeout: float) -> tuple[float, float, float, str]:
    """(wall seconds, CPU seconds, peak RSS in MB, outcome) of one ``gitxds validate`` child."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap_bytes, cap_bytes))

    with tempfile.TemporaryFile() as output:
        started = time.monotonic()
        child = subprocess.Popen(
            [sys.executable, "-m", "gitxds", "validate", str(directory)],
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=cap,  # noqa: PLW1509 - the cap must be set in the child before it runs
        )
        timer = threading.Timer(timeout, child.kill)
        timer.start()
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.monotonic() - started
        timer.cancel()
        child.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read().decode(errors="replace")
    outcome = f"killed after {timeout:.0f} s" if child.returncode < 0 else _outcome(child.returncode, text)
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, outcome


def _outcome(code: int, output: str) -> str:
    if "MemoryError" in output:
        return "over the memory cap"
    lines = output.strip().splitlines()
    return f"exit {code}: {lines[0][:100] if lines else ''}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.input_limits", description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cap-mb", type=int, default=4096)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gitxds-bench-limits-") as tmp:
        for label, make in INPUTS.items():
            directory = Path(tmp) / label.replace(" ", "-").replace(",", "")
            directory.mkdir()
            text = make()
            (directory / "hostile.yaml").write_text(text)
            runs = [_run_once(directory, args.cap_mb * 1024 * 1024, args.timeout) for _ in range(args.runs)]
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            peak = statistics.median(r[2] for r in runs)
            print(
                f"{label:<24} {len(text):>10} bytes  wall {wall:7.2f} s  CPU {cpu:7.2f} s  "
                f"peak RSS {peak:6.0f} MB  ({runs[-1][3][:90]})"
            )


if __name__ == "__main__":
    main()
