"""What one more xDS stream costs in server memory, split into gRPC's own share and gitxds's.

``bench/fanout.py`` measures the RSS a delta ADS stream adds to the real server. This benchmark
measures the floor under it: a grpc.aio server whose only method is a bidirectional stream that
answers one message and then idles, with the same server options and glibc settings as the xDS
server, and N clients in separate processes, one connection and one call each (as N Envoys would).
Server RSS is read after returning freed heap pages to the OS, at two sizes; the difference per added
stream is what gRPC itself keeps per connection and call, before gitxds holds anything. Beside it,
what glibc malloc has handed out and not had back per stream: RSS above that is freed heap that stays
resident because live blocks share its pages.

With ``--xds-sized`` each stream first carries the traffic of an xDS stream in ``bench/fanout.py``
(four requests naming 10,000 + 1,000 resources, four responses of the fan-out config's sizes, one
ACK each), so the figure is gRPC's share of what ``bench/fanout.py`` reports per added stream.

``--table`` prints one row per gRPC server option (and glibc setting) tried against the options
gitxds serves with (``TABLE`` below), each the median of ``--runs``; ``--grpc-option KEY=INT`` or
``KEY=none`` changes one option for a single figure.

    python -m bench.stream_memory [--streams 100 500] [--xds-sized] [--table] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import logging
import multiprocessing
import os
import statistics
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc

from bench.fanout import OPTION_HELP, changed_options, parse_options, rss_bytes
from gitxds.xds.server.server import GRPC_OPTIONS
from gitxds.xds.server.trim import map_large_blocks

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


Changes = tuple[tuple[str, int | None], ...]
Exchanges = tuple[tuple[int, int], ...]

READ_BUFFER = "grpc.experimental.tcp_max_read_buffer_size"
# Each row: what it changes against the options gitxds serves with, and environment variables of the
# server process. The first row takes gitxds's read-buffer cap away (gRPC's own default).
TABLE: tuple[tuple[str, Changes, dict[str, str]], ...] = (
    ("gRPC default read buffer (no cap)", ((READ_BUFFER, None),), {}),
    ("as served (read buffer capped at 8 KB)", (), {}),
    ("+ tcp_read_chunk_size=4096", (("grpc.experimental.tcp_read_chunk_size", 4096),), {}),
    ("+ tcp_min_read_chunk_size=4096", (("grpc.experimental.tcp_min_read_chunk_size", 4096),), {}),
    ("+ tcp_max_read_chunk_size=8192", (("grpc.experimental.tcp_max_read_chunk_size", 8192),), {}),
    ("+ http2.bdp_probe=0", (("grpc.http2.bdp_probe", 0),), {}),
    ("+ http2.lookahead_bytes=16384", (("grpc.http2.lookahead_bytes", 16384),), {}),
    ("+ http2.write_buffer_size=16384", (("grpc.http2.write_buffer_size", 16384),), {}),
    (
        "+ hpack tables 0",
        (("grpc.http2.hpack_table_size.decoder", 0), ("grpc.http2.hpack_table_size.encoder", 0)),
        {},
    ),
    ("+ max_concurrent_streams=16", (("grpc.max_concurrent_streams", 16),), {}),
    ("+ MALLOC_ARENA_MAX=2", (), {"MALLOC_ARENA_MAX": "2"}),
)


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                     "fordblks", "keepcost")
    ]  # fmt: skip


def malloc_in_use() -> int:
    """Bytes glibc malloc has handed out and not had back (heap and mapped blocks); 0 without glibc
    2.33+. RSS above it is free heap that cannot be returned (pages shared with live blocks)."""
    try:
        mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return 0
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return int(info.uordblks + info.hblkhd)


async def measure(streams: int, exchanges: Exchanges = IDLE, changes: Changes = ()) -> tuple[float, float]:
    """Server RSS growth and malloc-in-use growth in bytes with ``streams`` connected, idle streams."""
    map_large_blocks()  # glibc set up as the xDS server sets it
    server = grpc.aio.server(options=changed_options(GRPC_OPTIONS, changes))
    handler = grpc.stream_stream_rpc_method_handler(idle_stream)
    service = grpc.method_handlers_generic_handler("bench.Idle", {"Stream": handler})
    server.add_generic_rpc_handlers((service,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    before = rss_bytes(), malloc_in_use()
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
        after = rss_bytes(), malloc_in_use()
    finally:
        stop.set()
        for worker, _ in workers:
            worker.join(30)
        await server.stop(0)
    return after[0] - before[0], after[1] - before[1]


def _measure_in_process(streams: int, results: Any, exchanges: Exchanges, changes: Changes) -> None:
    logging.disable(logging.CRITICAL)  # streams cancelled at shutdown are logged by grpc.aio
    results.put(asyncio.run(measure(streams, exchanges, changes)))


def per_stream(
    sizes: tuple[int, int], runs: int, exchanges: Exchanges, changes: Changes, env: dict[str, str]
) -> list[tuple[float, float]]:
    """(RSS, malloc in use) in bytes per added stream, one pair a run, each size in a fresh server."""
    context = multiprocessing.get_context("spawn")
    small, large = sizes
    figures = []
    for _ in range(runs):
        grown = {}
        for streams in (small, large):
            results = context.Queue()
            case = context.Process(target=_measure_in_process, args=(streams, results, exchanges, changes))
            saved = {key: os.environ.get(key) for key in env}
            os.environ.update(env)  # read by the spawned server process at its start
            try:
                case.start()
            finally:
                for key, value in saved.items():
                    if value is None:
                        del os.environ[key]
                    else:
                        os.environ[key] = value
            grown[streams] = results.get(timeout=300)
            case.join(30)
        figures.append(
            (
                (grown[large][0] - grown[small][0]) / (large - small),
                (grown[large][1] - grown[small][1]) / (large - small),
            )
        )
    return figures


def _kb(values: list[float]) -> float:
    return statistics.median(values) / 1024


def _print_table(sizes: tuple[int, int], runs: int, exchanges: Exchanges) -> None:
    print(f"{'server options':42}{'RSS KB/stream':>15}{'malloc KB/stream':>18}  runs (RSS)")
    for label, changes, env in TABLE:
        figures = per_stream(sizes, runs, exchanges, changes, env)
        rss = [figure[0] for figure in figures]
        in_use = [figure[1] for figure in figures]
        shown = " ".join(f"{value / 1024:.1f}" for value in rss)
        print(f"{label:42}{_kb(rss):>15.1f}{_kb(in_use):>18.1f}  {shown}", flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stream_memory", description=__doc__)
    parser.add_argument("--streams", type=int, nargs=2, default=[100, 500])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--xds-sized", action="store_true", help="xDS-sized messages first (see above)")
    parser.add_argument("--table", action="store_true", help="one row per server option (see above)")
    parser.add_argument("--grpc-option", action="append", default=[], metavar="KEY=INT", help=OPTION_HELP)
    args = parser.parse_args(argv)
    changes = parse_options(args.grpc_option)
    exchanges = XDS_SIZED if args.xds_sized else IDLE
    sizes = (args.streams[0], args.streams[1])
    traffic = "after xDS-sized traffic" if args.xds_sized else "idle"
    print(f"load average before: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    if args.table:
        print(f"gRPC alone, bidi stream on its own connection, {traffic}; median of {args.runs}")
        _print_table(sizes, args.runs, exchanges)
    else:
        figures = per_stream(sizes, args.runs, exchanges, changes, {})
        rss = [figure[0] for figure in figures]
        print(f"gRPC alone, bidi stream on its own connection, {traffic}: {_kb(rss):.1f} KB per added stream")
        print(f"(between {sizes[0]} and {sizes[1]} streams, median of {args.runs}, a fresh server each)")
        print(f"malloc in use: {_kb([figure[1] for figure in figures]):.1f} KB per added stream")
        print("runs: " + " ".join(f"{value / 1024:.1f}" for value in rss))
    print(f"load average after: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")


if __name__ == "__main__":
    main()
