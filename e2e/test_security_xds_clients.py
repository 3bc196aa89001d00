"""Hostile xDS clients against a running `gitxds serve`: every request is bounded, nothing outlives it.

Each limit ends the offending stream with a gRPC status (RESOURCE_EXHAUSTED, INVALID_ARGUMENT) and
leaves the server serving; proxy-supplied text (NACK messages, node ids) is cut and escaped before it
reaches a log line or /status; memory asked for by 10 streams x 100,000 names x 4 rounds is given back
when they close. RSS and log sizes are printed (run with -s to see them).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from envoy.service.discovery.v3.discovery_pb2 import DiscoveryRequest
from google.rpc.status_pb2 import Status

from gitxds import typeurls
from harness import free_port, wait_for
from harness.configs import backend_doc, gateway_doc, route_doc, write_config
from harness.serve import ServeProcess
from harness.xds_client import XdsStream, node, sotw

NAMES = 100_000
STREAMS = 10
ROUNDS = 4
REQUEST_LIMIT = 16 << 20  # XdsLimits.max_request_bytes


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    tmp = tmp_path_factory.mktemp("clients")
    write_config(
        tmp / "config",
        [
            gateway_doc("edge", free_port()),
            backend_doc("api", [free_port()]),
            route_doc("chat", [{"backends": [{"name": "api"}]}]),
        ],
    )
    process = ServeProcess(tmp / "config", tmp, "--no-envoy-validate")
    yield process
    process.stop()


def _channel(serve: ServeProcess) -> grpc.Channel:
    options = (("grpc.use_local_subchannel_pool", 1), ("grpc.max_send_message_length", 128 << 20))
    return grpc.insecure_channel(serve.xds_address, options=options)


def _rss_bytes(serve: ServeProcess) -> int:
    for line in Path(f"/proc/{serve.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _proxies(serve: ServeProcess) -> list[dict[str, object]]:
    proxies: list[dict[str, object]] = serve.status()["proxies"]
    return proxies


def _subscribe_names(serve: ServeProcess, round_: int, names: int) -> None:
    """STREAMS streams, each subscribed to ``names`` endpoint names of its own, then all closed."""
    channels = [_channel(serve) for _ in range(STREAMS)]
    streams = [XdsStream(channel) for channel in channels]
    for index, stream in enumerate(streams):
        wanted = [f"round-{round_}-stream-{index}-cluster-{n:07d}.example.internal" for n in range(names)]
        stream.send(sotw(typeurls.ENDPOINT, wanted, node=node(f"hostile-{index}", "edge")))
    wait_for(
        lambda: sum("endpoints" in p["types"] for p in _proxies(serve)) == STREAMS,  # type: ignore[operator]
        timeout=60,
        message="every stream's request was applied",
    )
    for stream, channel in zip(streams, channels, strict=True):
        stream.close()
        channel.close()
    wait_for(lambda: _proxies(serve) == [], timeout=20, message="every stream closed")


def test_memory_asked_for_by_closed_streams_is_given_back(serve):
    _subscribe_names(serve, -1, 1_000)  # warm up gRPC, the planner and the allocator
    baseline = _rss_bytes(serve)
    after = []
    for round_ in range(ROUNDS):
        _subscribe_names(serve, round_, NAMES)
        after.append(_rss_bytes(serve))
    mib = [f"{value / 2**20:.0f}" for value in after]
    print(
        f"\nRSS baseline {baseline / 2**20:.0f} MiB, after each round of {STREAMS}x{NAMES} names: {mib} MiB"
    )
    # The closed connections are torn down just after the streams end: give that a moment to finish.
    settled = wait_for(
        lambda: (rss := _rss_bytes(serve)) <= baseline * 1.10 and rss,
        timeout=10,
        message=f"RSS back within 10% of {baseline} (rounds: {after})",
    )
    print(f"settled at {settled / 2**20:.0f} MiB")


def _nack(serve: ServeProcess, message: str) -> tuple[grpc.StatusCode | None, str | None]:
    """Take the clusters, then reject them with ``message``: the stream's end code (None: it stayed
    open) and the error /status showed for it."""
    with _channel(serve) as channel:
        stream = XdsStream(channel)
        stream.send(sotw(typeurls.CLUSTER, node=node("nacker", "edge")))
        response = stream.recv()
        assert response is not None
        nack = DiscoveryRequest(
            type_url=typeurls.CLUSTER,
            version_info="",
            response_nonce=response.nonce,
            error_detail=Status(code=3, message=message),
        )
        stream.send(nack)
        shown = None
        if len(message) < REQUEST_LIMIT:
            shown = wait_for(lambda: _nacked(serve), timeout=20, message="the NACK was recorded")
        else:
            stream.wait_closed(timeout=20)
        code = stream.code
        stream.close()
        return code, shown


def _nacked(serve: ServeProcess) -> str | None:
    for proxy in _proxies(serve):
        error = proxy["types"].get("clusters", {}).get("error")  # type: ignore[attr-defined]
        if proxy["node_id"] == "nacker" and error:
            return str(error)
    return None


def test_a_nack_message_is_cut_and_escaped_in_logs_and_status(serve):
    forged = "2026-12-03 00:00:00,000 ERROR gitxds: FORGED"
    message = ("x" * 100 + "\n" + forged + "\n") * 40_000  # 6 MB with newlines
    size_before = serve.log_path.stat().st_size
    code, shown = _nack(serve, message)
    assert code is None and shown is not None  # accepted and recorded; the stream stayed open
    log_growth = serve.log_path.stat().st_size - size_before
    print(f"\nlog bytes for one {len(message) / 2**20:.0f} MB NACK: {log_growth}")
    assert "\n" not in shown and len(shown) < 1200 and "more characters" in shown
    assert log_growth < 4096
    assert not any(line.startswith(forged[:20]) for line in serve.log_tail(200).splitlines())


def test_a_60_mb_nack_is_refused_before_it_is_read(serve):
    size_before = serve.log_path.stat().st_size
    code, _ = _nack(serve, "y" * (60 << 20))
    log_growth = serve.log_path.stat().st_size - size_before
    print(f"\nlog bytes for one 60 MB NACK: {log_growth}")
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert log_growth < 4096
    assert serve.get("/healthz")[0] == 200


def _refused(serve: ServeProcess, *requests: DiscoveryRequest) -> tuple[grpc.StatusCode | None, str]:
    with _channel(serve) as channel:
        stream = XdsStream(channel)
        for request in requests:
            stream.send(request)
        code = stream.wait_closed(timeout=20)
        return code, stream.details


def test_node_ids_are_bounded_and_escaped(serve):
    code, details = _refused(serve, sotw(typeurls.CLUSTER, node=node("n" * (10 << 20), "edge")))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "node.id" in details
    with _channel(serve) as channel:
        stream = XdsStream(channel)
        stream.send(sotw(typeurls.CLUSTER, node=node("edge-1\nFORGED line", "edge")))
        assert stream.recv() is not None
        ids = [p["node_id"] for p in _proxies(serve)]
        stream.close()
    assert "edge-1\\nFORGED line" in ids
    assert len(serve.get("/status")[1]) < 100_000


def test_metadata_larger_than_the_limit_is_refused(serve):
    request = sotw(typeurls.CLUSTER, node=node("fat", "edge"))
    request.node.metadata.fields["blob"].string_value = "m" * (128 << 10)
    code, details = _refused(serve, request)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "metadata" in details


def test_unknown_type_urls_are_answered_with_an_error_and_never_listed(serve):
    refused_before = serve.metric("gitxds_xds_refused_total", reason="invalid")
    for n in range(20):
        garbage = f"type.googleapis.com/garbage.Type{n}"
        code, details = _refused(serve, sotw(garbage, node=node(f"garbage-{n}", "edge")))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "unknown type URL" in details
    assert serve.metric("gitxds_xds_refused_total", reason="invalid") == refused_before + 20
    assert "garbage" not in serve.get("/status")[1]


def test_more_names_than_the_limit_in_one_request_is_refused(serve):
    names = [f"c{n}" for n in range(NAMES + 1)]
    code, details = _refused(serve, sotw(typeurls.ENDPOINT, names, node=node("greedy", "edge")))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "100001 resource names" in details


def test_streams_per_connection_are_limited(serve):
    with _channel(serve) as channel:
        streams = [XdsStream(channel) for _ in range(17)]
        for index, stream in enumerate(streams):
            stream.send(sotw(typeurls.CLUSTER, node=node(f"multi-{index}", "edge")))
        ended = wait_for(
            lambda: [s.code for s in streams if s.code is not None], timeout=20, message="one stream refused"
        )
        # Which stream the server starts last (and refuses) is its choice, not the order they were opened.
        served = sum(stream.recv() is not None for stream in streams if stream.code is None)
        for stream in streams:
            stream.close()
    assert ended == [grpc.StatusCode.RESOURCE_EXHAUSTED] and served == 16
