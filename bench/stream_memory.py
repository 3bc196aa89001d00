"""What one more xDS stream costs in server memory, split into gRPC's own share and gitxds's.

``bench/fanout.py`` measures the RSS a delta ADS stream adds to the real server. This benchmark
measures the floor under it: a grpc.aio server whose only method is a bidirectional stream that
answers one message and then idles, with the same server options as the xDS server, and N clients in
separate processes, one connection and one call each (as N Envoys would). Server RSS is read after
returning freed heap pages to the OS, at two sizes; the difference per added stream is what gRPC
itself keeps per connection and call, before gitxds holds anything.

With ``--xds-sized`` each stream first carries the traffic of an xDS stream in ``bench/fanout.py``
(four requests naming 10,000 + 1,000 resources, four responses of the fan-out config's sizes, one
ACK each), so the figure is gRPC's share of what ``bench/fanout.py`` reports per added stream.

    python -m bench.stream_memory [--streams 100 500] [--xds-sized]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc

from bench.fanout import rss_bytes
from gitxds.xds.server.server import GRPC_OPTIONS

METHOD = "/bench.Idle/Stream"


# (request bytes, response bytes) of the four types an ADS proxy of bench/fanout.py asks for.
XDS_SIZED = ((40, 1_240_000), (140_000, 1_480_000), (40, 320_000), (14_000, 480_000))
IDLE = ((5, 5),)


def run_clients(port: int, count: int, ready: Any, stop: Any, exchanges: tuple[tuple[int, int], ...]) -> None:
    async def main() -> None:
        options = [
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
            ("grpc.use_local_subchannel_pool", 1),
        ]
        channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) for _ in range(count)]
        calls = [channel.stream_stream(METHOD)() for channel in channels]
        for call in calls:
            for request_bytes, response_bytes in exchanges:
                await call.write(response_bytes.to_bytes(4, "big") + bytes(request_bytes))
        for call in calls:
            for _ in exchanges:
                await call.read()
                await call.write(b"\0\0\0\0ack")  # answered with nothing, like an ACK
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.2)
        for channel in channels:
            await channel.close()

    asyncio.run(main())


async def idle_stream(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> None:
    """Answers a request with as many bytes as its first four name (none for an ACK). Writes with
    ``context.write`` as the xDS server does (a generator's last response stays pinned while idle)."""
    async for request in requests:
        size = int.from_bytes(request[:4], "big")
        if size:
            await context.write(bytes(size))


Options = tuple[tuple[str, int], ...]


async def measure(
    streams: int, exchanges: tuple[tuple[int, int], ...] = IDLE, options: Options = ()
) -> float:
    """Server RSS growth in bytes with ``streams`` connected, idle streams."""
    server = grpc.aio.server(options=(*GRPC_OPTIONS, *options))
    handler = grpc.stream_stream_rpc_method_handler(idle_stream)
    service = grpc.method_handlers_generic_handler("bench.Idle", {"Stream": handler})
    server.add_generic_rpc_handlers((service,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    before = rss_bytes()
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    workers = []
    share = -(-streams // 4)
    for first in range(0, streams, share):
        ready = context.Event()
        worker = context.Process(
            target=run_clients, args=(port, min(share, streams - first), ready, stop, exchanges)
        )
        worker.start()
        workers.append((worker, ready))
    try:
        for _, ready in workers:
            while not ready.is_set():  # the event lives in another process: look, do not block the loop
                await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        after = rss_bytes()
    finally:
        stop.set()
        for worker, _ in workers:
            worker.join(30)
        await server.stop(0)
    return after - before


def _measure_in_process(
    streams: int, results: Any, exchanges: tuple[tuple[int, int], ...], options: Options
) -> None:
    results.put(asyncio.run(measure(streams, exchanges, options)))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stream_memory", description=__doc__)
    parser.add_argument("--streams", type=int, nargs=2, default=[100, 500])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--xds-sized", action="store_true", help="xDS-sized messages first (see above)")
    parser.add_argument(
        "--grpc-option", action="append", default=[], metavar="KEY=INT", help="extra gRPC server option"
    )
    args = parser.parse_args(argv)
    options = tuple((key, int(value)) for key, value in (o.split("=", 1) for o in args.grpc_option))
    exchanges = XDS_SIZED if args.xds_sized else IDLE
    context = multiprocessing.get_context("spawn")
    small, large = args.streams
    per_stream = []
    for _ in range(args.runs):
        grown = {}
        for streams in (small, large):
            results = context.Queue()
            case = context.Process(
                target=_measure_in_process, args=(streams, results, exchanges, options)
            )  # fresh server
            case.start()
            grown[streams] = results.get()
            case.join()
        per_stream.append((grown[large] - grown[small]) / (large - small))
    kb = statistics.median(per_stream) / 1024
    traffic = "after xDS-sized traffic" if args.xds_sized else "idle"
    print(f"gRPC alone, bidi stream on its own connection, {traffic}: {kb:.1f} KB per added stream")
    print(f"(between {small} and {large} streams, median of {args.runs}, a fresh server each)")
    print("runs: " + " ".join(f"{value / 1024:.1f}" for value in per_stream))


if __name__ == "__main__":
    main()
