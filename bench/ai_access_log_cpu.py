"""The price of per-key accounting: gitxds CPU per 1,000 access-log entries a second.

A real ``gitxds serve`` process (a small config, no Envoy validation) receives access logs over gRPC
(envoy.service.accesslog.v3, the stream every Envoy opens) from a client that sends entries shaped
like the ones gitxds configures Envoy to send (custom tags for backend, model, flags, TTFT, key and
tier, token usage in metadata), batched 50 to a message as Envoy does, at fixed rates. The server's
CPU time (user + system, from /proc) over each run gives the cost.

    python -m bench.ai_access_log_cpu [--rates 1000 5000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
from envoy.data.accesslog.v3.accesslog_pb2 import HTTPAccessLogEntry
from envoy.service.accesslog.v3 import als_pb2, als_pb2_grpc

from bench._servers import free_port

CONFIG = """\
apiVersion: gitxds.dev/v1alpha1
kind: Gateway
metadata: {name: edge}
spec:
  proxies: {cluster: edge}
  listeners: [{name: http, port: 10000, address: 127.0.0.1}]
---
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {name: gpt}
spec:
  endpoints: [{address: 127.0.0.1, port: 9}]
  api: openai
  pricing: {inputPerMillion: 2.5, outputPerMillion: 10}
---
apiVersion: gitxds.dev/v1alpha1
kind: Route
metadata: {name: chat}
spec:
  gateways: [edge]
  rules: [{backends: [{name: gpt}]}]
"""
BATCH = 50
TICKS = os.sysconf("SC_CLK_TCK")


def _entry(index: int) -> HTTPAccessLogEntry:
    entry = HTTPAccessLogEntry()
    common = entry.common_properties
    common.route_name = "chat/0"
    common.start_time.FromNanoseconds(time.time_ns())
    common.duration.FromMilliseconds(120)
    common.custom_tags.update(
        {
            "backend": "gpt",
            "model": "gpt-4o",
            "flags": "-",
            "ttft_ms": "35",
            "key": f"sk-demo-{index % 5000:05d}",  # 5,000 distinct keys: the per-key cap is exercised
            "tier": "free" if index % 3 else "pro",
        }
    )
    common.metadata.filter_metadata["gitxds.ai"].update(
        {"input_tokens": 120, "output_tokens": 300, "total_tokens": 420}
    )
    entry.response.response_code.value = 200
    return entry


def _messages(rate: int, seconds: float) -> Iterator[als_pb2.StreamAccessLogsMessage]:
    first = als_pb2.StreamAccessLogsMessage()
    first.identifier.node.id = "bench-envoy"
    first.identifier.log_name = "gitxds/edge"
    start, sent = time.monotonic(), 0
    while time.monotonic() - start < seconds:
        due = int((time.monotonic() - start) * rate)
        if sent >= due:
            time.sleep(BATCH / rate / 4)
            continue
        message = first if sent == 0 else als_pb2.StreamAccessLogsMessage()
        message.http_logs.log_entry.extend(_entry(sent + i) for i in range(BATCH))
        sent += BATCH
        yield message


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def _received(admin: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/usage?window=60&top=1", timeout=5) as response:
        return int(json.load(response)["received"])


def _start_serve(config_dir: str) -> tuple[subprocess.Popen[bytes], int, int]:
    xds, admin = free_port(), free_port()
    command = [sys.executable, "-m", "gitxds", "serve", config_dir, "--no-envoy-validate"]
    command += ["--xds-address", f"127.0.0.1:{xds}", "--admin-address", f"127.0.0.1:{admin}"]
    serve = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            _received(admin)
            return serve, xds, admin
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("gitxds serve did not come up") from None
            time.sleep(0.1)


def _one_run(
    stub: als_pb2_grpc.AccessLogServiceStub, pid: int, admin: int, rate: int, seconds: float
) -> float:
    """Cores used per 1,000 entries/s (before subtracting idle) over one run at ``rate``."""
    before_cpu, before_count, started = _cpu_seconds(pid), _received(admin), time.monotonic()
    stub.StreamAccessLogs(_messages(rate, seconds))
    while _received(admin) < before_count + int(rate * seconds) - BATCH:
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    received = _received(admin) - before_count
    return (_cpu_seconds(pid) - before_cpu) / elapsed, received / elapsed / 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[1000, 5000], help="entries per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "config.yaml").write_text(CONFIG)
        serve, xds, admin = _start_serve(tmp)
        try:
            idle_before = _cpu_seconds(serve.pid)
            time.sleep(args.seconds)
            idle = (_cpu_seconds(serve.pid) - idle_before) / args.seconds
            print(f"gitxds serve idle: {idle * 100:.2f}% of a core")
            with grpc.insecure_channel(f"127.0.0.1:{xds}") as channel:
                stub = als_pb2_grpc.AccessLogServiceStub(channel)
                for rate in args.rates:
                    shares = []
                    for _ in range(args.rounds):
                        cores, thousands_per_second = _one_run(stub, serve.pid, admin, rate, args.seconds)
                        shares.append((cores - idle) / thousands_per_second)
                    print(
                        f"  {rate} entries/s, {args.rounds} runs of {args.seconds:g} s: gitxds CPU per "
                        f"1,000 entries/s = {statistics.median(shares) * 100:.1f}% of a core (median, idle "
                        "subtracted)"
                    )
        finally:
            serve.terminate()
            serve.wait(timeout=10)


if __name__ == "__main__":
    main()
