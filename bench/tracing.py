"""Request latency through real Envoys: tracing off, tracing to a collector that is up, and down.

The same gitxds config is rendered three times (``static_bootstrap``): without ``tracing``; with
``tracing: {collector: otel, samplingPercent: N}`` and ``otel`` a real OTLP/gRPC receiver; and with
``otel`` pointing at a closed port, so every sampled span's export fails. Each round sends
``--requests`` requests per setting, interleaved one by one across the three Envoys (noise from a
busy machine hits each alike), on keep-alive connections. Figures: medians over rounds of each
round's p50 and p99, and p99 ratios to tracing off. Every request must succeed.

    python -m bench.tracing [--requests 200] [--rounds 7] [--sampling 100] [--upstream-delay-ms 0]
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from bench._servers import free_port, p99, start_upstream, static_envoy

CONFIG = """\
apiVersion: gitxds.dev/v1alpha1
kind: Gateway
metadata: {{name: edge}}
spec:
  proxies: {{cluster: edge}}
  listeners: [{{name: http, port: {listener}, address: 127.0.0.1}}]
{tracing}
---
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {{name: otel}}
spec: {{endpoints: [{{address: 127.0.0.1, port: {collector}}}], protocol: GRPC, connectTimeout: 250ms}}
---
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {{name: answer}}
spec: {{endpoints: [{{address: 127.0.0.1, port: {upstream}}}]}}
---
apiVersion: gitxds.dev/v1alpha1
kind: Route
metadata: {{name: all}}
spec:
  gateways: [edge]
  rules: [{{backends: [{{name: answer}}]}}]
"""
TRACING = "  tracing: {{collector: otel, samplingPercent: {percent}}}"


@contextmanager
def running_envoy(
    workdir: Path, name: str, sampling: float, collector: int | None, upstream: int
) -> Iterator[int]:
    """An Envoy serving the config, traced when ``collector`` is a port; yields its listener port."""
    listener = free_port()
    text = CONFIG.format(
        listener=listener,
        collector=collector or free_port(),
        upstream=upstream,
        tracing="" if collector is None else TRACING.format(percent=sampling),
    )
    with static_envoy(text, workdir, name):
        yield listener


class Client:
    """One keep-alive connection; ``get()`` -> milliseconds, failing the run on any non-200."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def get(self) -> float:
        start = time.perf_counter()
        self.connection.request("GET", "/")
        response = self.connection.getresponse()
        response.read()
        elapsed = (time.perf_counter() - start) * 1000
        if response.status != 200:
            raise SystemExit(f"a request failed with {response.status}")
        return elapsed


def start_collector() -> tuple[grpc.Server, int]:
    """An OTLP/gRPC trace receiver that accepts and drops every export."""

    class Receiver(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
        def Export(  # noqa: N802 (the gRPC method name)
            self, request: object, context: object
        ) -> trace_service_pb2.ExportTraceServiceResponse:
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Receiver(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--sampling", type=float, default=100.0, help="samplingPercent with tracing on")
    parser.add_argument("--upstream-delay-ms", type=float, default=0.0, help="upstream think time")
    args = parser.parse_args(argv)
    server, upstream = start_upstream("ok", args.upstream_delay_ms / 1000)
    collector, collector_port = start_collector()
    settings = {"off": None, "collector up": collector_port, "collector down": free_port()}
    p50s: dict[str, list[float]] = {name: [] for name in settings}
    p99s: dict[str, list[float]] = {name: [] for name in settings}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        clients = {
            name: Client(stack.enter_context(running_envoy(Path(tmp), name, args.sampling, port, upstream)))
            for name, port in settings.items()
        }
        for client in clients.values():
            for _ in range(50):  # warm up connections and Envoy's caches
                client.get()
        for _ in range(args.rounds):
            latencies: dict[str, list[float]] = {name: [] for name in settings}
            for _ in range(args.requests):  # interleaved, so machine noise hits every setting alike
                for name, client in clients.items():
                    latencies[name].append(client.get())
            for name, values in latencies.items():
                p50s[name].append(statistics.median(values))
                p99s[name].append(p99(values))
    server.shutdown()
    collector.stop(0)
    print(
        f"samplingPercent {args.sampling:g}, upstream delay {args.upstream_delay_ms:g} ms; "
        f"{args.rounds} rounds of {args.requests} requests per setting, all 200; medians over rounds"
    )
    for name in settings:
        p50, p99_ = statistics.median(p50s[name]), statistics.median(p99s[name])
        print(f"  tracing {name:15s} p50 {p50:.3f} ms  p99 {p99_:.3f} ms")
    off = statistics.median(p99s["off"])
    for name in ("collector up", "collector down"):
        print(f"  p99 {name} / off: {statistics.median(p99s[name]) / off:.3f}")


if __name__ == "__main__":
    main()
