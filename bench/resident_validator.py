"""The resident validator Envoy's own cost per one-route edit of a large gateway.

The config is the one of ``bench.translate`` (N backends, N routes, one Gateway). One real validator
Envoy is given the whole gateway once, then ``--edits`` candidates that each change one route's
timeout (the other resources are the very encoded objects of the previous candidate, as ``serve``
reuses them). Printed, as medians: ``check`` (``ResidentValidator.check``: building the candidate,
the push over delta xDS and Envoy's ACK) and ``narrow`` (the part of it spent choosing the routes to
send), with only the changed routes sent (the default) and with every route configuration sent whole.

    python -m bench.resident_validator [--size 10000] [--edits 15]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from envoy.config.route.v3.route_pb2 import RouteConfiguration

from bench.translate import write_config
from gitxds import typeurls
from gitxds.compile import compile_loaded
from gitxds.config import load_directory
from gitxds.gitops.envoy_check import find_envoy
from gitxds.gitops.resident_validator import ResidentValidator
from gitxds.translators.xds import translate_gateway
from gitxds.xds.cache import Narrowed, RouteNarrowing, Snapshot
from gitxds.xds.cache.encoding import ResourceEncoder
from gitxds.xds.cache.route_wire import any_value


def gateway(size: int) -> Snapshot:
    with tempfile.TemporaryDirectory(prefix="gitxds-bench-") as tmp:
        write_config(Path(tmp), size)
        result = compile_loaded(load_directory(Path(tmp)))
    return Snapshot.build(translate_gateway(result.model, "edge"))


def edited(previous: Snapshot, config: RouteConfiguration, edit: int) -> Snapshot:
    """``previous`` with route ``edit`` given another timeout; everything else the same objects."""
    config.virtual_hosts[0].routes[edit].route.timeout.seconds = 31 + edit
    resources = {type_url: list(previous.resources(type_url)) for type_url in typeurls.PUSH_ORDER}
    resources[typeurls.ROUTE] = [ResourceEncoder().encode(typeurls.ROUTE, config)]
    return Snapshot.build(resources, previous=previous)


class TimedNarrowing(RouteNarrowing):
    """Records how long choosing the routes took."""

    def __init__(self) -> None:
        super().__init__(whole_above_bytes=1 << 30)
        self.seconds: list[float] = []

    def narrow(self, gateway: str, snapshot: Snapshot) -> Narrowed:
        start = time.perf_counter()
        try:
            return super().narrow(gateway, snapshot)
        finally:
            self.seconds.append(time.perf_counter() - start)


async def measure(envoy: str, first: Snapshot, edits: int, narrow: bool) -> tuple[float, float, int]:
    validator = ResidentValidator(envoy, narrow_routes=narrow)
    timed = TimedNarrowing()
    validator._routes = timed  # a benchmark looks inside
    await validator.start()
    if not validator.up:
        raise SystemExit(f"the validator Envoy did not start: {validator.down_reason}")
    try:
        assert await validator.check(first, gateway="edge") is not None
        (route_config,) = first.resources(typeurls.ROUTE)
        config = RouteConfiguration()
        config.MergeFromString(any_value(route_config.any_bytes))
        candidate = first
        seconds = []
        del timed.seconds[:]
        for edit in range(edits):
            candidate = edited(candidate, config, edit)
            start = time.perf_counter()
            verdict = await validator.check(candidate, gateway="edge")
            seconds.append(time.perf_counter() - start)
            assert verdict is not None and verdict.accepted, verdict
        pushed = validator.last_push
        sent = pushed.routes_sent if pushed is not None and pushed.routes_sent is not None else -1
        return statistics.median(seconds), statistics.median(timed.seconds or [0.0]), sent
    finally:
        await validator.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.resident_validator", description=__doc__)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--edits", type=int, default=15)
    args = parser.parse_args(argv)
    envoy = find_envoy()
    if envoy is None:
        raise SystemExit("no envoy binary: run `make venv`")
    first = gateway(args.size)
    print(f"one-route edit of a {args.size}-route gateway, median of {args.edits} edits")
    for narrow, label in ((True, "changed routes only"), (False, "whole route configurations")):
        check, narrowing, sent = asyncio.run(measure(envoy, first, args.edits, narrow))
        print(
            f"  {label:<27} check {check * 1000:7.1f} ms   narrow {narrowing * 1000:5.1f} ms   "
            f"routes sent {sent if sent >= 0 else 'all'}"
        )
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"(load average {load}: the neighbours' load moves these figures)")


if __name__ == "__main__":
    main()
