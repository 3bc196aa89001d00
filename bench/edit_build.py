"""In-process build of a one-route edit at 10k: translate + encode + snapshot + consistency check.

What ``serve`` runs between the compiled model and the published snapshots (``gitops.inputs.build``
with the translation and encoding memos kept across edits, and the previous snapshots), for the
edit of ``bench.scale``: the weights of route svc-0 change in ``routes/routes-000000.yaml``. Two
sources of the model:

* ``files``: the edited file is written and loaded through the incremental loader, as serve does
  (the incremental compile hands over a model where only the edited route is a new object);
* ``one-route``: the served model with exactly route svc-0 replaced (what a compile that keeps every
  untouched object hands over).

Prints the median and the range of wall and CPU milliseconds per edit, with the load average.

    python -m bench.edit_build [--size 10000] [--edits 11]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from bench.scale import EDITED_FILE, edited_routes_file
from bench.translate import write_config
from gitxds import ir
from gitxds.gcpause import build_paused
from gitxds.gitops.inputs import Inputs, build
from gitxds.gitops.pipeline import IncrementalLoader
from gitxds.translators.xds import TranslationMemo
from gitxds.xds.cache import EncodingMemo, Snapshot


class Serving:
    """What serve keeps between builds."""

    def __init__(self) -> None:
        self.memo = EncodingMemo()
        self.translation = TranslationMemo()
        self.served: dict[str, Snapshot] = {}
        self.version = 0

    def build(self, model: ir.Model) -> tuple[float, float]:
        """Wall and CPU milliseconds of one build of ``model``."""
        self.version += 1
        inputs = Inputs(f"v{self.version}", model)
        with build_paused():
            wall, cpu = time.perf_counter(), time.thread_time()
            built = build(inputs, self.memo, self.served.get, translation=self.translation)
            self.memo.retire()
            wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        self.served = dict(built.snapshots)
        return wall * 1000, cpu * 1000


def weighted(model: ir.Model, first: int) -> ir.Model:
    """``model`` with route svc-0 split ``first``/``100 - first`` between svc-0 and svc-1."""
    routes = list(model.routes)
    index = next(i for i, route in enumerate(routes) if route.name == "svc-0")
    rule = routes[index].rules[0]
    split = (ir.WeightedBackend("svc-0", first), ir.WeightedBackend("svc-1", 100 - first))
    routes[index] = replace(routes[index], rules=(replace(rule, backends=split),))
    return replace(model, routes=tuple(routes))


def measure(edits: int, edit: Callable[[int], ir.Model], serving: Serving) -> str:
    samples = [serving.build(edit(i)) for i in range(edits)]
    walls, cpus = [s[0] for s in samples], [s[1] for s in samples]
    return (
        f"wall median {statistics.median(walls):.2f} ms ({min(walls):.2f}-{max(walls):.2f}), "
        f"CPU median {statistics.median(cpus):.2f} ms ({min(cpus):.2f}-{max(cpus):.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=10000)
    parser.add_argument("--edits", type=int, default=11)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gitxds-edit-build-") as folder:
        root = Path(folder)
        write_config(root, args.size)
        loader = IncrementalLoader(root)
        serving = Serving()
        model = loader.load().compiled.model
        serving.build(model)

        def from_files(i: int) -> ir.Model:
            (root / EDITED_FILE).write_text(edited_routes_file(10 + i % 80))
            return loader.load().compiled.model

        files = measure(args.edits, from_files, serving)
        served = loader.load().compiled.model
        serving.build(served)
        one = measure(args.edits, lambda i: weighted(served, 10 + i % 80), serving)
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"build of a one-route edit at {args.size} ({args.edits} edits; load average {load})")
    print(f"  files:     {files}")
    print(f"  one-route: {one}")


if __name__ == "__main__":
    main()
