"""gitxds at fleet size: one-route edits through ``gitxds serve``, cold builds, and how both grow.

The config is the one of ``bench.translate`` (N backends, N routes, one Gateway, 100 documents a
file). Figures, each a median:

  edit      a real ``gitxds serve DIR`` process at 10k; one file is rewritten (editor-style rename)
            with new weights for one route, and ``/status`` is polled (every millisecond) until the
            new version is the served one. Printed with ``--no-envoy-validate`` and with Envoy
            validation on. ``build`` is the server's own figure for that version (load + compile +
            translate + snapshot).
  start     the same process from spawn until ``/readyz`` says a version is served.
  cold      load + compile + translate + serialize in one fresh process per run (CPU seconds, the
            collector paused as ``serve`` does), with that process's peak RSS, at 1k, 10k and 50k.

    python -m bench.scale [--edits 5] [--runs 3] [--sizes 1000 10000 50000] [--skip-serve]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.commit_to_traffic import free_port, wait_http, write_atomically
from bench.translate import ROUTE, write_config

EDITED_FILE = "routes/routes-000000.yaml"
SPLIT_ROUTE = """\
apiVersion: gitxds.dev/v1alpha1
kind: Route
metadata: {{name: svc-0}}
spec:
  gateways: [edge]
  rules:
    - matches: [{{path: {{prefix: /svc-0/}}}}]
      backends: [{{name: svc-0, weight: {first}}}, {{name: svc-1, weight: {second}}}]
      timeout: 30s
"""
COLD_CHILD = """\
import json, resource, sys, time
from pathlib import Path
from bench.translate import run_pipeline
from gitxds.gcpause import collector_paused
with collector_paused():
    times = run_pipeline(Path(sys.argv[1]), time.process_time)
times["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(times))
"""


def edited_routes_file(first_weight: int) -> str:
    """The first routes file with route svc-0 split between two backends by ``first_weight``."""
    documents = [SPLIT_ROUTE.format(first=first_weight, second=100 - first_weight)]
    documents += [ROUTE.format(i=i) for i in range(1, 100)]
    return "---\n".join(documents)


@contextmanager
def serving(command: list[str], log: Path) -> Iterator[None]:
    """``gitxds serve`` for the duration; a 10k build in progress may delay its exit, so wait long."""
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def served(admin: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{admin}/status", timeout=30) as response:
        status: dict[str, Any] = json.load(response)
    return status["config"]["served"] or {}


def wait_served_change(admin: str, previous: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        now = served(admin)
        if now.get("version") not in (None, previous):
            return now
        time.sleep(0.001)  # a poll a millisecond: a tighter loop loads the very server it measures
    raise TimeoutError(f"no new version after {previous}")


def serve_edits(root: Path, validate: bool, edits: int) -> dict[str, float]:
    """Start ``gitxds serve`` on ``root``; seconds to the first version, then per edit (medians)."""
    xds_port, admin_port = free_port(), free_port()
    admin = f"http://127.0.0.1:{admin_port}"
    command = [sys.executable, "-m", "gitxds", "serve", str(root), "--log-level", "warning"]
    command += ["--xds-address", f"127.0.0.1:{xds_port}", "--admin-address", f"127.0.0.1:{admin_port}"]
    command += [] if validate else ["--no-envoy-validate"]
    write_atomically(root / EDITED_FILE, edited_routes_file(50))
    with tempfile.TemporaryDirectory(prefix="gitxds-scale-log-") as logs:
        started = time.perf_counter()
        with serving(command, Path(logs) / "serve.log"):
            wait_http(f"{admin}/readyz", timeout=120)
            start_seconds = time.perf_counter() - started
            version = served(admin)["version"]
            samples, builds = [], []
            for edit in range(edits):
                written = time.perf_counter()
                write_atomically(root / EDITED_FILE, edited_routes_file(10 + edit % 2 * 80))
                now = wait_served_change(admin, version)
                samples.append(time.perf_counter() - written)
                builds.append(now["build_seconds"])
                version = now["version"]
    return {
        "start": start_seconds,
        "edit": statistics.median(samples),
        "build": statistics.median(builds),
    }


def cold(root: Path, runs: int) -> dict[str, float]:
    """Median CPU seconds per stage and in total, and the median peak RSS, of fresh processes."""
    samples = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", COLD_CHILD, str(root)], check=True, capture_output=True, text=True
        ).stdout
        samples.append(json.loads(out))
    figures = {key: statistics.median(s[key] for s in samples) for key in samples[0]}
    figures["total"] = statistics.median(sum(v for k, v in s.items() if k != "rss_mib") for s in samples)
    return figures


def _load_average() -> str:
    """Printed beside the figures: on a shared machine the neighbours' load moves them."""
    return "load average " + " ".join(f"{value:.2f}" for value in os.getloadavg())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--edits", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 50_000])
    parser.add_argument("--skip-serve", action="store_true", help="only the cold curve")
    args = parser.parse_args(argv)
    print(f"before: {_load_average()}")
    envoy = shutil.which("envoy", path=str(Path(sys.executable).parent))
    curve = {}
    with tempfile.TemporaryDirectory(prefix="gitxds-scale-") as tmp:
        for size in sorted(set(args.sizes) | ({10_000} if not args.skip_serve else set())):
            root = Path(tmp) / str(size)
            root.mkdir()
            write_config(root, size)
            curve[size] = cold(root, args.runs)
        if not args.skip_serve:
            root = Path(tmp) / "10000"
            off = serve_edits(root, validate=False, edits=args.edits)
            on = serve_edits(root, validate=True, edits=args.edits) if envoy else None
            print(f"10k one-route edit -> published, validation off: {off['edit'] * 1000:7.1f} ms", end="")
            print(f"  (server build {off['build'] * 1000:.1f} ms; median of {args.edits})")
            if on is not None:
                print(f"10k one-route edit -> published, validation on:  {on['edit'] * 1000:7.1f} ms", end="")
                print(f"  (server build {on['build'] * 1000:.1f} ms)")
            else:
                print("10k one-route edit, validation on: no Envoy binary beside Python")
            print(f"10k cold load+compile+translate+serialize (CPU): {curve[10_000]['total']:7.2f} s")
            print(f"10k serve start -> first version served:          {off['start']:7.2f} s", end="")
            print(f"  (validation on: {on['start']:.2f} s)" if on is not None else "")
    header = ("size", 7), ("load", 8), ("compile", 8), ("translate", 9), ("serialize", 9), ("total", 8)
    print("\n" + " ".join(f"{name:>{width}}" for name, width in header) + "  RSS MiB")
    for size in args.sizes:
        f = curve[size]
        stages = " ".join(
            f"{f[s]:>{w}.2f}s" for s, w in (("load", 7), ("compile", 7), ("translate", 8), ("serialize", 8))
        )
        print(f"{size:>7} {stages} {f['total']:>7.2f}s {f['rss_mib']:>8.0f}")
    print(f"(CPU seconds and peak RSS of a fresh process, median of {args.runs}; {_load_average()})")


if __name__ == "__main__":
    main()
