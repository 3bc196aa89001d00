"""The price of routing on the request body, paid in Envoy: latency with the AI filters on vs off.

The same route (POST /v1/chat/completions to one upstream answering an OpenAI-shaped JSON body with
usage) is rendered twice (``static_bootstrap``) and served by two real Envoys: "off", a plain rule;
"on", the rule matching on the body's ``model`` with an ``api: openai`` backend, so Envoy buffers
the request body, reads ``model`` (json_to_metadata), re-picks the route and reads the response's
usage (json_to_metadata, sse_to_metadata). Requests alternate between the two Envoys, so machine
noise hits both alike.

    python -m bench.ai_body_filters [--requests 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench._servers import free_port, p99, start_upstream, static_envoy

CONFIG = """\
apiVersion: gitxds.dev/v1alpha1
kind: Gateway
metadata: {{name: edge}}
spec:
  proxies: {{cluster: edge}}
  listeners: [{{name: http, port: {listener}, address: 127.0.0.1}}]
---
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {{name: model}}
spec: {{endpoints: [{{address: 127.0.0.1, port: {upstream}}}]{api}}}
---
apiVersion: gitxds.dev/v1alpha1
kind: Route
metadata: {{name: chat}}
spec:
  gateways: [edge]
  rules: [{{matches: [{{path: {{prefix: /v1/chat/completions}}{model}}}], backends: [{{name: model}}]}}]
"""
SETTINGS = {
    "off": {"api": "", "model": ""},
    "on": {"api": ", api: openai", "model": ", model: {exact: gpt-4o}"},
}
REQUEST = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hello " * 40}]}).encode()
ANSWER = json.dumps(
    {
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi " * 40}}],
        "usage": {"prompt_tokens": 41, "completion_tokens": 40, "total_tokens": 81},
    }
).encode()


@contextmanager
def running_envoy(workdir: Path, name: str, upstream: int) -> Iterator[int]:
    listener = free_port()
    with static_envoy(CONFIG.format(listener=listener, upstream=upstream, **SETTINGS[name]), workdir, name):
        yield listener


class Client:
    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def post(self) -> float:
        start = time.perf_counter()
        self.connection.request(
            "POST", "/v1/chat/completions", body=REQUEST, headers={"content-type": "application/json"}
        )
        response = self.connection.getresponse()
        response.read()
        elapsed = (time.perf_counter() - start) * 1000
        if response.status != 200:
            raise SystemExit(f"a request failed with {response.status}")
        return elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="per setting and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    server, upstream = start_upstream(ANSWER.decode(), content_type="application/json")
    p50s: dict[str, list[float]] = {name: [] for name in SETTINGS}
    p99s: dict[str, list[float]] = {name: [] for name in SETTINGS}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        clients = {
            name: Client(stack.enter_context(running_envoy(Path(tmp), name, upstream))) for name in SETTINGS
        }
        for client in clients.values():
            for _ in range(100):  # warm up connections and Envoy's caches
                client.post()
        for _ in range(args.rounds):
            latencies: dict[str, list[float]] = {name: [] for name in SETTINGS}
            for _ in range(args.requests):
                for name, client in clients.items():
                    latencies[name].append(client.post())
            for name, values in latencies.items():
                p50s[name].append(statistics.median(values))
                p99s[name].append(p99(values))
    server.shutdown()
    print(
        f"{args.rounds} rounds of {args.requests} requests per setting ({len(REQUEST)}-byte body, "
        f"{len(ANSWER)}-byte answer), all 200; medians over rounds"
    )
    for name in SETTINGS:
        p50, p99_ = statistics.median(p50s[name]), statistics.median(p99s[name])
        print(f"  body filters {name:3s}  p50 {p50:.3f} ms  p99 {p99_:.3f} ms")
    for label, values in (("p50", p50s), ("p99", p99s)):
        added = statistics.median(values["on"]) - statistics.median(values["off"])
        print(f"  {label} added by the body filters: {added * 1000:.0f} us")


if __name__ == "__main__":
    main()
