"""Is pausing the cyclic garbage collector during a config parse worth it?

Loads and compiles the generated config of ``bench.translate`` (1k and 10k backends) cold with serve's loader,
as shipped (the collector paused around the parse, see ``gitxds.gcpause``) and with that pause taken
out, and prints the median CPU time of each and the saving. (Python's collector is process-wide:
the pause covers every thread, the xDS server's included, for as long as the parse takes.)

    python -m bench.gc_pause [--sizes 1000 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import gitxds.config.loader as loader_module
from bench.translate import write_config
from gitxds.compile import compile_loaded
from gitxds.config.loader import DirectoryLoader


def parse_directory(root: Path, *, paused: bool) -> float:
    """CPU seconds of one cold load (list, read, parse, merge) by serve's loader and the compile after
    it, with the loader's pause of the collector, or with that pause taken out."""
    loader = DirectoryLoader(root)
    gc.collect()
    pause = loader_module.collector_paused
    if not paused:
        loader_module.collector_paused = contextlib.nullcontext  # type: ignore[assignment]
    try:
        start = time.process_time()
        compile_loaded(loader.load().config)  # what a reload does next, with the collector back on
        return time.process_time() - start
    finally:
        loader_module.collector_paused = pause


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"{'backends':>9} {'collector on':>13} {'paused':>9} {'saving':>8}   (median CPU s of {args.runs})")
    for size in args.sizes:
        with tempfile.TemporaryDirectory(prefix="gitxds-bench-gc-") as tmp:
            root = Path(tmp)
            write_config(root, size)
            on: list[float] = []
            off: list[float] = []
            for _ in range(args.runs):  # interleaved, so drift in the machine's load hits both alike
                on.append(parse_directory(root, paused=False))
                off.append(parse_directory(root, paused=True))
        with_gc, without = statistics.median(on), statistics.median(off)
        saving = (with_gc - without) / with_gc * 100
        print(f"{size:>9} {with_gc:>13.3f} {without:>9.3f} {saving:>7.1f}%")


if __name__ == "__main__":
    main()
