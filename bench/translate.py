"""Cold load + compile + translate + serialize of generated configs with 1k and 10k backends.

Each backend gets one route (one rule, a path prefix of its own). Prints the median of a few runs per
stage in CPU time of this process (what the "on one core" target means; wall time on a shared
machine mostly measures the neighbours), the median wall time of a whole run, and the peak memory
of one run (tracemalloc, a separate run so it does not slow the timings).

    python -m bench.translate [--sizes 1000 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gitxds import typeurls
from gitxds.compile import compile_loaded
from gitxds.config import load_directory
from gitxds.translators.xds import translate_gateway

DOCUMENTS_PER_FILE = 100
STAGES = ("load", "compile", "translate", "serialize")

GATEWAY = """\
apiVersion: gitxds.dev/v1alpha1
kind: Gateway
metadata: {name: edge}
spec:
  proxies: {cluster: edge}
  listeners: [{name: http, port: 10000}]
"""

BACKEND = """\
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {{name: svc-{i}}}
spec:
  endpoints:
    - {{address: 10.{a}.{b}.1, port: 8000}}
    - {{address: 10.{a}.{b}.2, port: 8000}}
  connectTimeout: 1s
"""

ROUTE = """\
apiVersion: gitxds.dev/v1alpha1
kind: Route
metadata: {{name: svc-{i}}}
spec:
  gateways: [edge]
  rules:
    - matches: [{{path: {{prefix: /svc-{i}/}}}}]
      backends: [{{name: svc-{i}}}]
      timeout: 30s
"""


def write_config(root: Path, backends: int) -> None:
    (root / "gateway.yaml").write_text(GATEWAY)
    for kind, template in (("backends", BACKEND), ("routes", ROUTE)):
        folder = root / kind
        folder.mkdir()
        for start in range(0, backends, DOCUMENTS_PER_FILE):
            indexes = range(start, min(start + DOCUMENTS_PER_FILE, backends))
            documents = [template.format(i=i, a=i // 256 % 256, b=i % 256) for i in indexes]
            (folder / f"{kind}-{start:06d}.yaml").write_text("---\n".join(documents))


def run_pipeline(root: Path, clock: Callable[[], float]) -> dict[str, float]:
    """One cold pass; seconds per stage."""
    times: dict[str, float] = {}
    start = clock()
    loaded = load_directory(root)
    times["load"] = clock() - start
    start = clock()
    result = compile_loaded(loaded)
    times["compile"] = clock() - start
    assert not result.diagnostics, result.diagnostics[:3]
    start = clock()
    resources = translate_gateway(result.model, "edge")
    times["translate"] = clock() - start
    start = clock()
    size = sum(len(m.SerializeToString(deterministic=True)) for ms in resources.values() for m in ms)
    times["serialize"] = clock() - start
    assert len(resources[typeurls.CLUSTER]) >= 1 and size > 0
    return times


def peak_memory_mib(root: Path) -> float:
    gc.collect()
    tracemalloc.start()
    run_pipeline(root, time.perf_counter)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def measure(backends: int, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gitxds-bench-") as tmp:
        root = Path(tmp)
        write_config(root, backends)
        samples = []
        walls = []
        for _ in range(runs):
            start = time.perf_counter()
            samples.append(run_pipeline(root, time.process_time))
            walls.append(time.perf_counter() - start)
        medians = {stage: statistics.median(s[stage] for s in samples) for stage in STAGES}
        medians["total"] = statistics.median(sum(s.values()) for s in samples)
        medians["wall"] = statistics.median(walls)
        return {"backends": backends, "seconds": medians, "peak_mib": peak_memory_mib(root)}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.translate", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    columns = (*STAGES, "total", "wall")
    print("backends+routes " + " ".join(f"{column:>10}" for column in columns) + "  peak MiB")
    for size in args.sizes:
        figures = measure(size, args.runs)
        seconds = figures["seconds"]
        row = " ".join(f"{seconds[column] * 1000:>8.0f}ms" for column in columns)
        print(f"{size:>15} {row}  {figures['peak_mib']:>8.1f}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"(CPU time, median of {args.runs} cold runs per size; process max RSS {rss:.0f} MiB)")
    print(f"(load average {load}: the neighbours' load moves these figures)")


if __name__ == "__main__":
    main()
