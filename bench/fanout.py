"""Fan-out benchmark: one route changes under N connected ADS proxies (SotW and delta).

Config: 10,000 EDS clusters with their endpoints, 1,000 listeners each naming one of 1,000 route
configurations of 10 routes (10,000 routes). Simulated proxies run in separate processes, many asyncio
streams each, one TCP connection per proxy. The server measures time until every proxy ACKed the
change (all_acked_s), its own CPU seconds, bytes sent per proxy, and what one more stream costs in
RSS: half the proxies connect first, and the RSS the second half adds, divided by its streams, is
kb_per_added_stream (--trace-python splits out the Python objects and prints where they come from).

Every wait is bounded (--timeout); a proxy whose stream fails, or a client process that dies, ends
the run at once with the reason, and a failed case prints FAILED and exits non-zero.

Run: .venv/bin/python -m bench.fanout [--proxies 1000] [--runs 3] [--variants delta sotw] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import multiprocessing
import os
import queue
import statistics
import time
import tracemalloc
from typing import Any

from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.core.v3.address_pb2 import Address, SocketAddress
from envoy.config.core.v3.base_pb2 import Node
from envoy.config.core.v3.config_source_pb2 import AggregatedConfigSource, ConfigSource
from envoy.config.endpoint.v3.endpoint_components_pb2 import Endpoint, LbEndpoint, LocalityLbEndpoints
from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment
from envoy.config.listener.v3.listener_components_pb2 import Filter, FilterChain
from envoy.config.listener.v3.listener_pb2 import Listener
from envoy.config.route.v3.route_components_pb2 import Route, RouteAction, RouteMatch, VirtualHost
from envoy.config.route.v3.route_pb2 import RouteConfiguration
from envoy.extensions.filters.network.http_connection_manager.v3.http_connection_manager_pb2 import (
    HttpConnectionManager,
    Rds,
)
from google.protobuf.any_pb2 import Any as AnyMessage

from gitxds import typeurls

CLUSTERS = 10_000
ROUTE_CONFIGS = 1_000
ROUTES_PER_CONFIG = 10
CHANGED_CONFIG = 42
CLIENT_PROCESSES = 4
CDS, EDS, LDS, RDS = typeurls.CLUSTER, typeurls.ENDPOINT, typeurls.LISTENER, typeurls.ROUTE


def cluster_names() -> list[str]:
    return [f"backend-{i:05d}" for i in range(CLUSTERS)]


def route_config_names() -> list[str]:
    return [f"routes-{i:04d}" for i in range(ROUTE_CONFIGS)]


def _ads() -> ConfigSource:
    return ConfigSource(ads=AggregatedConfigSource(), resource_api_version=3)


def _cluster(name: str) -> Cluster:
    cluster = Cluster(name=name, type=Cluster.EDS)
    cluster.eds_cluster_config.eds_config.CopyFrom(_ads())
    cluster.connect_timeout.FromMilliseconds(250)
    return cluster


def _assignment(name: str, index: int) -> ClusterLoadAssignment:
    address = SocketAddress(
        address=f"10.{index // 65536}.{index // 256 % 256}.{index % 256}", port_value=8080
    )
    endpoint = LbEndpoint(endpoint=Endpoint(address=Address(socket_address=address)))
    return ClusterLoadAssignment(cluster_name=name, endpoints=[LocalityLbEndpoints(lb_endpoints=[endpoint])])


def _route_config(index: int, shift: int = 0) -> RouteConfiguration:
    routes = [
        Route(
            match=RouteMatch(prefix=f"/svc-{index}-{n}"),
            route=RouteAction(cluster=f"backend-{(index * ROUTES_PER_CONFIG + n + shift) % CLUSTERS:05d}"),
        )
        for n in range(ROUTES_PER_CONFIG)
    ]
    host = VirtualHost(name=f"host-{index}", domains=[f"svc-{index}.example.com"], routes=routes)
    return RouteConfiguration(name=f"routes-{index:04d}", virtual_hosts=[host])


def _listener(index: int) -> Listener:
    manager = HttpConnectionManager(
        stat_prefix="ingress", rds=Rds(route_config_name=f"routes-{index:04d}", config_source=_ads())
    )
    typed = AnyMessage()
    typed.Pack(manager)
    address = Address(socket_address=SocketAddress(address="0.0.0.0", port_value=20000 + index))
    chain = FilterChain(
        filters=[Filter(name="envoy.filters.network.http_connection_manager", typed_config=typed)]
    )
    return Listener(name=f"listener-{index:04d}", address=address, filter_chains=[chain])


def build_config() -> dict[str, list[Any]]:
    names = cluster_names()
    return {
        CDS: [_cluster(name) for name in names],
        EDS: [_assignment(name, i) for i, name in enumerate(names)],
        LDS: [_listener(i) for i in range(ROUTE_CONFIGS)],
        RDS: [_route_config(i) for i in range(ROUTE_CONFIGS)],
    }


OPTION_HELP = "a gRPC server option set (KEY=INT) or taken away (KEY=none)"


def parse_options(given: list[str]) -> tuple[tuple[str, int | None], ...]:
    """``KEY=INT`` or ``KEY=none`` (take the server's option away) from the command line."""
    pairs = (option.split("=", 1) for option in given)
    return tuple((key, None if value == "none" else int(value)) for key, value in pairs)


def changed_options(
    options: tuple[tuple[str, int], ...], changes: tuple[tuple[str, int | None], ...]
) -> tuple[tuple[str, int], ...]:
    """``options`` with ``changes`` applied by key (None removes one). gRPC keeps the first value of a
    key given twice, so appending would not override."""
    merged: dict[str, int | None] = {**dict(options), **dict(changes)}
    return tuple((key, value) for key, value in merged.items() if value is not None)


def rss_bytes() -> int:
    """Resident memory after returning freed heap pages to the OS (so transient buffers do not count)."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# ---------------------------------------------------------------- simulated proxies (client processes)


async def _proxy(channel: Any, node_id: str, delta: bool, stop: asyncio.Event, errors: Any) -> None:
    """One simulated Envoy; a stream that fails is reported to ``errors`` (the server side stops
    waiting for it and says why) instead of vanishing."""
    try:
        await _serve_proxy(channel, node_id, delta, stop)
    except Exception as exc:  # any failure: the benchmark must say so, not wait for this proxy
        errors.put(f"{node_id}: {type(exc).__name__}: {str(exc)[:300]}")


async def _serve_proxy(channel: Any, node_id: str, delta: bool, stop: asyncio.Event) -> None:
    import grpc
    from envoy.service.discovery.v3 import ads_pb2_grpc
    from envoy.service.discovery.v3.discovery_pb2 import DeltaDiscoveryRequest, DiscoveryRequest

    stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
    call = stub.DeltaAggregatedResources() if delta else stub.StreamAggregatedResources()
    named = {EDS: cluster_names(), RDS: route_config_names()}
    node = Node(id=node_id, cluster="gw")
    for type_url in (CDS, EDS, LDS, RDS):
        names = named.get(type_url, [])
        if delta:
            first: Any = DeltaDiscoveryRequest(type_url=type_url, resource_names_subscribe=names)
        else:
            first = DiscoveryRequest(type_url=type_url, resource_names=names)
        if type_url == CDS:
            first.node.CopyFrom(node)
        await call.write(first)
    reading = asyncio.ensure_future(call.read())
    stopping = asyncio.ensure_future(stop.wait())
    while True:
        await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stopping.done():
            reading.cancel()
            call.cancel()
            return
        response = reading.result()
        if response is grpc.aio.EOF:
            raise ConnectionError("the server ended the stream")
        if delta:
            ack: Any = DeltaDiscoveryRequest(type_url=response.type_url, response_nonce=response.nonce)
        else:
            ack = DiscoveryRequest(
                type_url=response.type_url,
                response_nonce=response.nonce,
                version_info=response.version_info,
                resource_names=named.get(response.type_url, []),
            )
        await call.write(ack)
        reading = asyncio.ensure_future(call.read())


def run_proxies(port: int, first: int, count: int, *, delta: bool, stop_event: Any, errors: Any) -> None:
    import grpc

    async def main() -> None:
        stop = asyncio.Event()
        options = [
            ("grpc.max_receive_message_length", 256 * 1024 * 1024),
            ("grpc.use_local_subchannel_pool", 1),
        ]
        channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) for _ in range(count)]
        tasks = [
            asyncio.ensure_future(_proxy(channel, f"proxy-{first + i}", delta, stop, errors))
            for i, channel in enumerate(channels)
        ]
        while not stop_event.is_set():
            await asyncio.sleep(0.2)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for channel in channels:
            await channel.close()

    asyncio.run(main())


# ---------------------------------------------------------------- the server under test


class BenchFailedError(Exception):
    """The run cannot give a figure (a proxy failed, a client process died, a wait timed out)."""


class Fleet:
    """The simulated proxies, in client processes started in waves; fails fast and says why."""

    def __init__(self, port: int, proxies: int, delta: bool) -> None:
        self.context = multiprocessing.get_context("spawn")
        self.stop_event = self.context.Event()
        self.errors = self.context.Queue()
        share = -(-proxies // CLIENT_PROCESSES)
        self.workers = [
            self.context.Process(
                target=run_proxies,
                args=(port, first, min(share, proxies - first)),
                kwargs={"delta": delta, "stop_event": self.stop_event, "errors": self.errors},
                daemon=True,
            )
            for first in range(0, proxies, share)
        ]
        self.sizes = [min(share, proxies - first) for first in range(0, proxies, share)]

    def start(self, workers: slice) -> int:
        for worker in self.workers[workers]:
            worker.start()
        return sum(self.sizes[workers])

    def check(self) -> None:
        if not self.errors.empty():
            raise BenchFailedError(f"a simulated proxy failed: {self.errors.get()}")
        for worker in self.workers:
            if worker.exitcode is not None:
                raise BenchFailedError(f"client process {worker.pid} exited with {worker.exitcode}")

    def stop(self) -> None:
        self.stop_event.set()
        for worker in self.workers:
            if worker.pid is not None:
                worker.join(10)
                if worker.is_alive():
                    worker.kill()


async def _wait_until(
    predicate: Any, timeout: float, what: str, fleet: Fleet, *, progress: Any = None, interval: float = 0.002
) -> float:
    """Seconds until ``predicate()``; raises BenchFailedError on timeout or a failed proxy, printing
    ``progress()`` every 10 s so a slow run shows where it is."""
    start = time.perf_counter()
    shown = start
    while not predicate():
        now = time.perf_counter()
        if now - start > timeout:
            raise BenchFailedError(
                f"{what}: not done after {timeout:.0f}s ({progress() if progress else ''})"
            )
        if progress is not None and now - shown >= 10:
            print(f"  ... {what}: {progress()} after {now - start:.0f}s", flush=True)
            shown = now
        fleet.check()
        await asyncio.sleep(interval)
    return time.perf_counter() - start


async def measure(
    variant: str,
    proxies: int,
    *,
    trace_python: bool = False,
    grpc_options: tuple[tuple[str, int | None], ...] = (),
    timeout: float = 600,
    profile: bool = False,
) -> dict[str, float]:
    from prometheus_client import CollectorRegistry

    from gitxds.metrics import Metrics
    from gitxds.xds.cache import Snapshot, SnapshotCache
    from gitxds.xds.server import XdsEvent, XdsServer
    from gitxds.xds.server import server as server_module

    server_module.GRPC_OPTIONS = changed_options(server_module.GRPC_OPTIONS, grpc_options)

    registry = CollectorRegistry()
    cache = SnapshotCache()
    first = Snapshot.build(build_config(), config_version="before")
    cache.set_snapshot("gw", first)
    server = XdsServer(cache, metrics=Metrics(registry))
    acked: set[str] = set()
    synced_types: dict[str, set[str]] = {}

    def on_event(event: XdsEvent) -> None:
        if not event.accepted:
            return
        if event.config_version == "before":
            synced_types.setdefault(event.node_id, set()).add(event.type_url)
        elif event.type_url == RDS and event.config_version == "after":
            acked.add(event.node_id)

    def synced() -> int:
        return sum(len(types) == 4 for types in synced_types.values())

    def progress() -> str:
        return f"{len(server.proxies())} streams open, {synced()} of {proxies} proxies synced"

    server.on_event(on_event)
    port = await server.start()
    fleet = Fleet(port, proxies, variant == "delta")
    try:
        # Half the fleet first: the RSS the second half adds is what one more stream costs, without
        # what the first streams create once and share (name sets, views, memo).
        half = len(fleet.workers) // 2 or 1
        first_wave = fleet.start(slice(0, half))
        await _wait_until(
            lambda: synced() == first_wave, timeout, "first wave sync", fleet, progress=progress, interval=0.2
        )
        await asyncio.sleep(0.5)
        rss_half = rss_bytes()
        if trace_python:
            tracemalloc.start()
            python_before = tracemalloc.take_snapshot()
        added = fleet.start(slice(half, None))
        sync_start = time.perf_counter()
        await _wait_until(
            lambda: synced() == proxies, timeout, "initial sync", fleet, progress=progress, interval=0.2
        )
        second_wave_sync = time.perf_counter() - sync_start
        if not _all_in_sync(server.proxies(), proxies):  # no status kept: it would count as stream state
            raise BenchFailedError(f"after the initial sync: {progress()}, not all in sync")
        await asyncio.sleep(0.5)
        rss_synced = rss_bytes()
        python_kb = 0.0
        if trace_python:
            python_kb = _python_growth(python_before, tracemalloc.take_snapshot(), added)
            tracemalloc.stop()

        build_start = time.perf_counter()
        resources: dict[str, list[Any]] = {t: list(first.resources(t)) for t in (CDS, EDS, LDS, RDS)}
        resources[RDS][CHANGED_CONFIG] = _route_config(CHANGED_CONFIG, shift=1)
        second = Snapshot.build(resources, config_version="after", previous=first)
        build_seconds = time.perf_counter() - build_start

        bytes_before = _bytes_sent(registry)
        profiler = _start_profile() if profile else None
        cpu_before = time.process_time()
        cache.set_snapshot("gw", second)
        converge = await _wait_until(
            lambda: len(acked) == proxies,
            min(timeout, 120),
            "change",
            fleet,
            progress=lambda: f"{len(acked)} ACKed",
        )
        cpu = time.process_time() - cpu_before
        if profiler is not None:
            _print_profile(profiler)
        sent = _bytes_sent(registry) - bytes_before
    finally:
        fleet.stop()
        await server.stop(0)
    return {
        "second_wave_sync_s": second_wave_sync,
        "change_build_ms": build_seconds * 1000,
        "all_acked_s": converge,
        "server_cpu_s": cpu,
        "bytes_per_proxy": sent / proxies,
        "rss_synced_mb": rss_synced / 2**20,
        "kb_per_added_stream": (rss_synced - rss_half) / added / 1024,
        "python_kb_per_stream": python_kb,
    }


def _all_in_sync(statuses: list[Any], proxies: int) -> bool:
    return len(statuses) == proxies and all(status.in_sync for status in statuses)


def _start_profile() -> Any:
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


def _print_profile(profiler: Any) -> None:
    import pstats

    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def _python_growth(before: Any, after: Any, proxies: int) -> float:
    """KB per stream of Python objects allocated while the streams connected (and still alive),
    with the largest allocation sites printed."""
    stats = after.compare_to(before, "lineno")
    for stat in stats[:16]:
        frame = stat.traceback[0]
        print(f"  {stat.size_diff / proxies:8.0f} B/stream  {frame.filename}:{frame.lineno}", flush=True)
    return float(sum(stat.size_diff for stat in stats)) / proxies / 1024


def _bytes_sent(registry: Any) -> float:
    return float(
        sum(
            sample.value
            for metric in registry.collect()
            if metric.name == "gitxds_xds_bytes_sent"
            for sample in metric.samples
            if sample.name.endswith("_total")
        )
    )


def _measure_in_process(variant: str, proxies: int, results: Any, options: dict[str, Any]) -> None:
    try:
        results.put(asyncio.run(measure(variant, proxies, **options)))
    except BenchFailedError as failure:
        results.put({"error": str(failure)})
    except BaseException as exc:
        results.put({"error": f"{type(exc).__name__}: {exc}"})
        raise


def _run_case(variant: str, proxies: int, options: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One case in a fresh server process (so RSS figures do not carry over); never waits forever."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    case = context.Process(target=_measure_in_process, args=(variant, proxies, results, options))
    case.start()
    deadline = time.monotonic() + 3 * timeout + 180  # two syncs and a change, each bounded in the case
    try:
        while True:
            try:
                return dict(results.get(timeout=1))
            except queue.Empty:
                if not case.is_alive():
                    return {"error": f"the server process exited with {case.exitcode} without a result"}
                if time.monotonic() > deadline:
                    return {"error": "the server process did not finish in time"}
    finally:
        case.join(30)
        if case.is_alive():
            case.kill()


COLUMNS = ["second_wave_sync_s", "change_build_ms", "all_acked_s", "server_cpu_s", "bytes_per_proxy",
           "rss_synced_mb", "kb_per_added_stream", "python_kb_per_stream"]  # fmt: skip


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fanout",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--proxies", type=int, nargs="+", default=[1000])
    parser.add_argument("--variants", nargs="+", default=["delta"], choices=["sotw", "delta"])
    parser.add_argument("--runs", type=int, default=1, help="runs per case, each a fresh server; medians")
    parser.add_argument("--trace-python", action="store_true", help="split Python objects from the rest")
    parser.add_argument("--profile", action="store_true", help="print the server's profile of the change")
    parser.add_argument("--timeout", type=float, default=600, help="seconds each sync may take (default 600)")
    parser.add_argument("--grpc-option", action="append", default=[], metavar="KEY=INT", help=OPTION_HELP)
    args = parser.parse_args(argv)
    grpc_options = parse_options(args.grpc_option)
    print(f"load average before: {_load()}")
    print(f"{'variant':8}{'proxies':>8}" + "".join(f"{c:>21}" for c in COLUMNS), flush=True)
    options = {
        "trace_python": args.trace_python,
        "grpc_options": grpc_options,
        "timeout": args.timeout,
        "profile": args.profile,
    }
    failed = False
    for variant in args.variants:
        for proxies in args.proxies:
            rows = []
            for _ in range(args.runs):
                row = _run_case(variant, proxies, options, args.timeout)
                if "error" in row:
                    failed = True
                    print(f"{variant:8}{proxies:>8}  FAILED: {row['error']}", flush=True)
                    continue
                rows.append(row)
                print(f"{variant:8}{proxies:>8}" + "".join(f"{row[c]:>21.3f}" for c in COLUMNS), flush=True)
            if len(rows) > 1:
                medians = "".join(f"{statistics.median(row[c] for row in rows):>21.3f}" for c in COLUMNS)
                print(f"{'median':8}{len(rows):>8}{medians}", flush=True)
    print(f"load average after: {_load()}")
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
