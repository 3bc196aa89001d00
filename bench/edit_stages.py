"""The one-route edit of ``bench.scale`` in one process, stage by stage: what serve's reload costs
without the watcher, the HTTP poll or other processes around it.

The config is the one of ``bench.translate`` (N backends, N routes, one Gateway, 100 documents a
file); each edit rewrites ``routes/routes-000000.yaml`` with new weights for route svc-0, as
``bench.scale`` does. Printed, as medians over the edits (wall-clock, the collector paused as serve
pauses it):

  load+compile   ``IncrementalLoader.load()``: list and read the changed file, parse its changed
                 sections, merge, compile what the edit touched
  build          translate and snapshot the new model with serve's memos (``gitops.inputs.build``)
  first load     the first ``load()`` of a fresh loader: serve's start, before translation

    python -m bench.edit_stages [--edits 9] [--size 10000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.scale import EDITED_FILE, edited_routes_file
from bench.translate import write_config
from gitxds.gcpause import build_paused
from gitxds.gitops.inputs import Inputs, build
from gitxds.gitops.pipeline import IncrementalLoader
from gitxds.translators.xds import TranslationMemo
from gitxds.xds.cache import EncodingMemo, Snapshot


def measure(root: Path, edits: int) -> dict[str, float]:
    loader = IncrementalLoader(root)
    encoding, translation = EncodingMemo(), TranslationMemo()
    served: dict[str, Snapshot] = {}
    samples: dict[str, list[float]] = {"load+compile": [], "build": [], "first load": []}
    for edit in range(edits + 1):
        if edit:
            (root / EDITED_FILE).write_text(edited_routes_file(10 + edit))
        with build_paused():
            start = time.perf_counter()
            outcome = loader.load()
            loaded = time.perf_counter()
            built = build(
                Inputs(f"v{edit}", outcome.compiled.model), encoding, served.get, translation=translation
            )
            encoding.retire()
            done = time.perf_counter()
        assert not outcome.diagnostics, outcome.diagnostics[:3]
        served.update(built.snapshots)
        if edit:
            samples["load+compile"].append(loaded - start)
            samples["build"].append(done - loaded)
        else:
            samples["first load"].append(loaded - start)
    return {stage: statistics.median(values) for stage, values in samples.items()}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.edit_stages", description=__doc__)
    parser.add_argument("--edits", type=int, default=9)
    parser.add_argument("--size", type=int, default=10_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gitxds-edit-stages-") as tmp:
        root = Path(tmp)
        write_config(root, args.size)
        figures = measure(root, args.edits)
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"{args.size} services, one-route edit in process (median of {args.edits} edits; load average {load})"
    )
    print(f"  load+compile per edit: {figures['load+compile'] * 1000:8.2f} ms")
    print(f"  build per edit:        {figures['build'] * 1000:8.2f} ms  (translate + snapshot)")
    print(f"  first load+compile:    {figures['first load'] * 1000:8.2f} ms")


if __name__ == "__main__":
    main()
