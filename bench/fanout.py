"""Fan-out benchmark: one route changes under N connected ADS proxies (SotW and delta).

Config: 10,000 EDS clusters with their endpoints, 1,000 listeners each naming one of 1,000 route
configurations of 10 routes (10,000 routes). Simulated proxies run in separate processes, many asyncio
streams each, one TCP connection per proxy. The server measures time until every proxy ACKed the
change, its own CPU seconds, bytes sent per proxy, and its RSS with and without the proxies.

Run: .venv/bin/python bench/fanout.py [--proxies 100 1000] [--variants sotw delta]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import multiprocessing
import os
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


def rss_bytes() -> int:
    """Resident memory after returning freed heap pages to the OS (so transient buffers do not count)."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# ---------------------------------------------------------------- simulated proxies (client processes)


async def _proxy(channel: Any, node_id: str, delta: bool, stop: asyncio.Event) -> None:
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


def run_proxies(port: int, first: int, count: int, delta: bool, stop_event: Any) -> None:
    import grpc

    async def main() -> None:
        stop = asyncio.Event()
        options = [
            ("grpc.max_receive_message_length", 256 * 1024 * 1024),
            ("grpc.use_local_subchannel_pool", 1),
        ]
        channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) for _ in range(count)]
        tasks = [
            asyncio.ensure_future(_proxy(channel, f"proxy-{first + i}", delta, stop))
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


async def _wait_until(predicate: Any, timeout: float, interval: float = 0.002) -> float:
    start = time.perf_counter()
    while not predicate():
        if time.perf_counter() - start > timeout:
            raise TimeoutError("proxies did not converge")
        await asyncio.sleep(interval)
    return time.perf_counter() - start


async def measure(
    variant: str, proxies: int, trace_python: bool = False, grpc_options: tuple[tuple[str, int], ...] = ()
) -> dict[str, float]:
    from prometheus_client import CollectorRegistry

    from gitxds.metrics import Metrics
    from gitxds.xds.cache import Snapshot, SnapshotCache
    from gitxds.xds.server import XdsEvent, XdsServer
    from gitxds.xds.server import server as server_module

    server_module.GRPC_OPTIONS = (*server_module.GRPC_OPTIONS, *grpc_options)

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

    server.on_event(on_event)
    port = await server.start()
    rss_idle = rss_bytes()
    if trace_python:
        tracemalloc.start()
        python_before = tracemalloc.take_snapshot()
    context = multiprocessing.get_context("spawn")
    stop_event = context.Event()
    share = -(-proxies // CLIENT_PROCESSES)
    workers = [
        context.Process(
            target=run_proxies,
            args=(port, i * share, min(share, proxies - i * share), variant == "delta", stop_event),
        )
        for i in range(CLIENT_PROCESSES)
        if i * share < proxies
    ]
    for worker in workers:
        worker.start()
    try:

        def all_synced() -> bool:
            return sum(len(types) == 4 for types in synced_types.values()) == proxies

        initial_sync = await _wait_until(all_synced, 900, interval=0.2)
        statuses = server.proxies()
        assert len(statuses) == proxies and all(status.in_sync for status in statuses)
        await asyncio.sleep(1.0)
        rss_synced = rss_bytes()
        python_kb = 0.0
        if trace_python:
            python_kb = _python_growth(python_before, tracemalloc.take_snapshot(), proxies)
            tracemalloc.stop()

        build_start = time.perf_counter()
        resources: dict[str, list[Any]] = {t: list(first.resources(t)) for t in (CDS, EDS, LDS, RDS)}
        resources[RDS][CHANGED_CONFIG] = _route_config(CHANGED_CONFIG, shift=1)
        second = Snapshot.build(resources, config_version="after", previous=first)
        build_seconds = time.perf_counter() - build_start

        bytes_before = _bytes_sent(registry)
        cpu_before = time.process_time()
        cache.set_snapshot("gw", second)
        converge = await _wait_until(lambda: len(acked) == proxies, 120)
        cpu = time.process_time() - cpu_before
        sent = _bytes_sent(registry) - bytes_before
    finally:
        stop_event.set()
        for worker in workers:
            worker.join(30)
        await server.stop(0)
    return {
        "initial_sync_s": initial_sync,
        "change_build_ms": build_seconds * 1000,
        "all_acked_s": converge,
        "server_cpu_s": cpu,
        "bytes_per_proxy": sent / proxies,
        "rss_idle_mb": rss_idle / 2**20,
        "rss_synced_mb": rss_synced / 2**20,
        "kb_per_stream": (rss_synced - rss_idle) / proxies / 1024,
        "python_kb_per_stream": python_kb,
    }


def _python_growth(before: Any, after: Any, proxies: int) -> float:
    """KB per stream of Python objects allocated while the streams connected (and still alive),
    with the largest allocation sites printed."""
    stats = after.compare_to(before, "lineno")
    for stat in stats[:8]:
        frame = stat.traceback[0]
        print(f"  {stat.size_diff / proxies:8.0f} B/stream  {frame.filename}:{frame.lineno}", flush=True)
    return sum(stat.size_diff for stat in stats) / proxies / 1024


def _bytes_sent(registry: Any) -> float:
    return sum(
        sample.value
        for metric in registry.collect()
        if metric.name == "gitxds_xds_bytes_sent"
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


def _measure_in_process(variant: str, proxies: int, results: Any, *options: Any) -> None:
    results.put(asyncio.run(measure(variant, proxies, *options)))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--proxies", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--variants", nargs="+", default=["delta", "sotw"], choices=["sotw", "delta"])
    parser.add_argument("--trace-python", action="store_true", help="split Python objects from the rest")
    parser.add_argument(
        "--grpc-option", action="append", default=[], metavar="KEY=INT", help="extra gRPC server option"
    )
    args = parser.parse_args()
    grpc_options = tuple((key, int(value)) for key, value in (o.split("=", 1) for o in args.grpc_option))
    context = multiprocessing.get_context("spawn")
    columns = ["initial_sync_s", "change_build_ms", "all_acked_s", "server_cpu_s", "bytes_per_proxy",
               "rss_idle_mb", "rss_synced_mb", "kb_per_stream", "python_kb_per_stream"]  # fmt: skip
    print(f"{'variant':8}{'proxies':>8}" + "".join(f"{c:>17}" for c in columns), flush=True)
    for variant in args.variants:
        for proxies in args.proxies:
            results = context.Queue()
            # Each case gets a fresh server process so RSS figures do not carry over.
            case = context.Process(
                target=_measure_in_process, args=(variant, proxies, results, args.trace_python, grpc_options)
            )
            case.start()
            row = results.get()
            case.join()
            print(f"{variant:8}{proxies:>8}" + "".join(f"{row[c]:>17.3f}" for c in columns), flush=True)


if __name__ == "__main__":
    main()
