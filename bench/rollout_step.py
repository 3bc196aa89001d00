"""A rollout step at fleet size: from the controller's decision to the new weights published.

The config is the one of ``bench.translate`` (10k backends and routes, one Gateway) with a
RolloutPolicy of 19 steps covering route svc-0. A commit splits svc-0 between two backends, which
starts the rollout; then the bench's clock moves one pause at a time and each tick decides a step.
Measured in process on the real path of ``gitxds serve``: the tick, the driver's rebuild request,
``Reconciler.apply`` with the rollout progress as the changed input (no file read, the accepted
version not checked by Envoy again), and the snapshot in the cache. For comparison, the same weights
through a full reload (re-reading the directory and the secret store), the way steps were built
before. Medians.

    python -m bench.rollout_step [--size 10000] [--validate | --no-validate]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from bench.scale import EDITED_FILE, edited_routes_file
from bench.translate import write_config
from gitxds.gitops.reconciler import Reconciler
from gitxds.gitops.rollouts import RolloutDriver
from gitxds.gitops.secrets import SecretStore
from gitxds.metrics import Metrics
from gitxds.xds.cache import SnapshotCache

WEIGHTS = range(5, 100, 5)  # 19 steps
POLICY = f"""\
apiVersion: gitxds.dev/v1alpha1
kind: RolloutPolicy
metadata: {{name: careful}}
spec:
  routes: [svc-0]
  steps: [{", ".join(f"{{weight: {w}, pause: 1s}}" for w in WEIGHTS)}]
"""


class ManualClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Published:
    """Wraps ``Reconciler.apply``: when each rebuild the driver asked for was published."""

    def __init__(self, writer: Reconciler) -> None:
        self.writer = writer
        self.done = asyncio.Event()
        self.at = 0.0

    async def apply(self, trigger: str, change: Any) -> Any:
        outcome = await self.writer.apply(trigger, change)
        self.at = time.perf_counter()
        self.done.set()
        return outcome


async def measure(root: Path, envoy: str | None) -> tuple[list[float], list[float]]:
    clock = ManualClock()
    registry = CollectorRegistry()
    log = logging.getLogger("bench.rollout_step")
    driver = RolloutDriver(
        registry,
        signals=None,
        state_file=None,
        tick_seconds=3600,
        settle_seconds=0.0,
        logger=log,
        clock=clock,
    )
    cache = SnapshotCache()
    writer = Reconciler(
        root, cache, Metrics(registry), secrets=SecretStore(None), envoy=envoy, rollouts=driver.controller
    )
    await writer.reload("start")
    published = Published(writer)
    stop = asyncio.Event()
    stop.set()  # the bench's clock decides the steps: the driver's own clock task ends at once
    await driver.start(published.apply, git=None, sync=writer.reload, stop=stop)
    (root / EDITED_FILE).write_text(edited_routes_file(50))
    started = await writer.reload("files changed")
    assert getattr(started, "accepted", False), started
    steps = []
    for _ in WEIGHTS[1:]:
        before = cache.get("edge")
        clock.now += 1.0
        published.done.clear()
        decided = time.perf_counter()
        assert driver.controller.tick(), "the step did not move"
        await published.done.wait()
        steps.append(published.at - decided)
        assert cache.get("edge") is not before
    reloads = []
    for _ in range(5):
        began = time.perf_counter()
        await writer.reload("rollout step (full reload, for comparison)")
        reloads.append(time.perf_counter() - began)
    return steps, reloads


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rollout_step", description=__doc__)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument(
        "--validate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="check versions with envoy --mode validate (steps are not re-checked)",
    )
    args = parser.parse_args(argv)
    envoy = shutil.which("envoy", path=str(Path(sys.executable).parent)) if args.validate else None
    with tempfile.TemporaryDirectory(prefix="gitxds-rollout-step-") as tmp:
        root = Path(tmp)
        write_config(root, args.size)
        (root / "rollout.yaml").write_text(POLICY)
        steps, reloads = asyncio.run(measure(root, envoy))
    label = f"{args.size // 1000}k" if args.size >= 1000 else str(args.size)
    check = "envoy --mode validate on" if envoy else "validation off"
    print(
        f"{label} rollout step decision -> new weights published: {statistics.median(steps) * 1000:7.1f} ms",
        end="",
    )
    print(f"  (median of {len(steps)} steps, max {max(steps) * 1000:.1f} ms; {check})")
    print(
        f"{label} the same step through a full reload:           {statistics.median(reloads) * 1000:7.1f} ms",
        end="",
    )
    print(f"  (median of {len(reloads)})")


if __name__ == "__main__":
    main()
