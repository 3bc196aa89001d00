"""What the watcher's quiet time costs and buys: detection latency, and idle CPU of ``gitxds serve``.

Detection: an in-process :class:`~gitxds.gitops.watch.ConfigWatcher` on a real directory; each trial
replaces a file (temporary file + rename) and times the call of ``on_change``. Idle CPU: a real
``gitxds serve --no-envoy-validate`` on a small config, left alone for ``--idle-seconds``; its user +
system CPU over that time, from /proc (the resident validator Envoy is another process, and is off).

    python -m bench.watch_latency [--quiet-ms 20 5] [--trials 40] [--idle-seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench._servers import free_port
from bench.commit_to_traffic import CONFIG, ROUTE, wait_http, write_atomically
from gitxds.gitops.watch import ConfigWatcher

_TICKS = os.sysconf("SC_CLK_TCK")


async def detection_ms(directory: Path, quiet_ms: int, trials: int) -> list[float]:
    """Milliseconds from a rename landing to the watcher calling back, per trial."""
    seen = asyncio.Event()

    async def on_change() -> None:
        seen.set()

    stop = asyncio.Event()
    watcher = ConfigWatcher(directory, on_change, quiet_ms=quiet_ms)
    task = asyncio.create_task(watcher.run(stop))
    await watcher.armed.wait()
    samples = []
    for trial in range(trials):
        seen.clear()
        text = ROUTE.format(target=("green", "blue")[trial % 2])
        started = time.perf_counter()
        await asyncio.to_thread(write_atomically, directory / "route.yaml", text)
        await asyncio.wait_for(seen.wait(), timeout=5)
        samples.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.03)  # let the burst end before the next trial
    stop.set()
    await task
    return samples


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


def idle_cpu_percent(directory: Path, quiet_ms: int, seconds: float) -> float:
    admin = free_port()
    command = [sys.executable, "-m", "gitxds", "serve", str(directory), "--no-envoy-validate"]
    command += ["--xds-address", f"127.0.0.1:{free_port()}", "--admin-address", f"127.0.0.1:{admin}"]
    command += ["--debounce", f"{quiet_ms}ms", "--log-level", "warning"]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as serve:
        try:
            wait_http(f"http://127.0.0.1:{admin}/readyz")
            time.sleep(2)  # start-up work (imports, first build, collector) is not idle
            before = cpu_seconds(serve.pid)
            time.sleep(seconds)
            return (cpu_seconds(serve.pid) - before) / seconds * 100
        finally:
            serve.terminate()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.watch_latency", description=__doc__)
    parser.add_argument("--quiet-ms", type=int, nargs="+", default=[20, 5])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--idle-seconds", type=float, default=15.0)
    args = parser.parse_args(argv)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'quiet':>6} {'detect p50':>11} {'p99':>8} {'idle CPU':>9}  ({args.trials} trials)")
    for quiet in args.quiet_ms:
        with tempfile.TemporaryDirectory(prefix="gitxds-watch-") as tmp:
            directory = Path(tmp)
            (directory / "base.yaml").write_text(CONFIG.format(listener=free_port(), blue=1, green=2))
            (directory / "route.yaml").write_text(ROUTE.format(target="blue"))
            samples = sorted(asyncio.run(detection_ms(directory, quiet, args.trials)))
            p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
            idle = idle_cpu_percent(directory, quiet, args.idle_seconds)
        print(f"{quiet:>4}ms {statistics.median(samples):>9.1f}ms {p99:>6.1f}ms {idle:>8.2f}%")


if __name__ == "__main__":
    main()
