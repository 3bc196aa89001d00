"""A rollout test bench: a bare Git remote, ``gitxds serve --git-url`` on it, one Envoy, chat-v1 and chat-v2.

Tests commit to a working clone and push, as a team would; gitxds follows the remote, and pushes
its revert commits there.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from harness import EnvoyProcess, UpstreamServer, free_port, wait_for
from harness.client import HttpClient, send_many, tally_upstreams
from harness.serve import GitRepo, ServeProcess

TOKEN = "rollout-admin-token"
CLIENTS = 2  # keep-alive connections measuring in parallel
PATH = "/v1/chat/completions"
GATEWAY = """\
apiVersion: gitxds.dev/v1alpha1
kind: Gateway
metadata: {{name: edge}}
spec:
  proxies: {{cluster: {cluster}}}
  listeners: [{{name: http, port: {port}, address: 127.0.0.1}}]
"""
BACKENDS = """\
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {{name: chat-v1}}
spec: {{endpoints: [{{address: 127.0.0.1, port: {v1}}}]}}
---
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {{name: chat-v2}}
spec: {{endpoints: [{{address: 127.0.0.1, port: {v2}}}]}}
"""
ROUTE = """\
apiVersion: gitxds.dev/v1alpha1
kind: Route
metadata: {{name: chat}}
spec:
  gateways: [{gateways}]
  rules:
    - matches: [{{path: {{prefix: /v1/chat}}}}]
      backends: [{{name: {backend}}}]
"""


def policy(steps: str, *, analysis: str = "", on_failure: str = "revert") -> str:
    text = "apiVersion: gitxds.dev/v1alpha1\nkind: RolloutPolicy\nmetadata: {name: careful}\nspec:\n"
    text += f"  routes: [chat]\n  steps: {steps}\n  onFailure: {on_failure}\n"
    return text + (f"  analysis: {analysis}\n" if analysis else "")


class RolloutStack:
    def __init__(
        self,
        tmp: Path,
        rollout_policy: str,
        *serve_args: str,
        settle: str = "300ms",
        git_url: str | None = None,  # how gitxds reaches the remote (default: its path)
        second_gateway: bool = False,
    ) -> None:
        """``second_gateway``: chat is also served by gateway edge-b on ``port_b`` (cluster ``cluster_b``),
        for a second Envoy that must not share the first one's listener port."""
        self.tmp = tmp
        self.v1 = UpstreamServer("chat-v1").start()
        self.v2 = UpstreamServer("chat-v2").start()
        self.port = free_port()
        self.cluster = f"edge-{self.port}"
        self.remote = tmp / "remote.git"
        subprocess.run(
            ["git", "init", "--quiet", "--bare", "--initial-branch=main", str(self.remote)], check=True
        )
        self.repo = GitRepo(tmp / "work")
        self.repo.git("remote", "add", "origin", str(self.remote))
        self.repo.write("gateway.yaml", GATEWAY.format(cluster=self.cluster, port=self.port))
        self.gateways = "edge"
        if second_gateway:
            self.port_b = free_port()
            self.cluster_b = f"edge-b-{self.port_b}"
            second = GATEWAY.format(cluster=self.cluster_b, port=self.port_b).replace(
                "name: edge}", "name: edge-b}"
            )
            self.repo.write("gateway-b.yaml", second)
            self.gateways = "edge, edge-b"
        self.repo.write("backends.yaml", BACKENDS.format(v1=self.v1.port, v2=self.v2.port))
        self.repo.write("rollout.yaml", rollout_policy)
        self.first = self.push("chat-v1", "serve chat-v1")
        token_file = tmp / "admin-token"
        token_file.write_text(TOKEN)
        self.serve_args = (
            "--git-url", git_url or str(self.remote), "--poll", "200ms",
            "--checkout-dir", str(tmp / "checkout"), "--admin-token-file", str(token_file),
            "--rollout-settle", settle, *serve_args,
        )  # fmt: skip
        self.serve = ServeProcess(Path("."), tmp, *self.serve_args)
        bootstrap: dict[str, Any] = YAML(typ="safe").load(self.serve.bootstrap("envoy-1", self.cluster))
        self.envoy = EnvoyProcess(bootstrap, tmp).start()
        self.envoy.wait_listening(self.port, timeout=10)

    def push(self, backend: str, message: str) -> str:
        self.repo.write("routes/chat.yaml", ROUTE.format(backend=backend, gateways=self.gateways))
        return self.push_commit(message)

    def push_commit(self, message: str) -> str:
        sha = self.repo.commit(message)
        self.repo.git("push", "--quiet", "origin", "HEAD:main")
        return sha

    def remote_log(self) -> list[str]:
        out = subprocess.run(
            ["git", "--git-dir", str(self.remote), "log", "--format=%H%x00%B%x01", "main"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        return [entry.strip("\n") for entry in out.split("\x01") if entry.strip()]

    def admin(self, path: str) -> dict[str, Any]:
        code, body = self.serve.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
        assert code == 200, (code, body)
        data: dict[str, Any] = json.loads(body)
        return data

    def command(self, action: str, rule: str | None = None) -> tuple[int, dict[str, Any]]:
        query = f"?rule={rule}" if rule else ""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.serve.admin_port}/rollouts/{action}{query}",
            method="POST",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels`` (the admin token sent)."""
        code, body = self.serve.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert code == 200, body
        total = 0.0
        for line in body.splitlines():
            key, _, value = line.rpartition(" ")
            sample, _, label_text = key.partition("{")
            if sample == name and all(f'{k}="{v}"' in label_text for k, v in labels.items()):
                total += float(value)
        return total

    def rollout(self) -> dict[str, Any] | None:
        current = self.admin("/rollouts")["current"]
        return current[0] if current else None

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [
            sys.executable,
            "-m",
            "gitxds",
            "rollout",
            *args,
            "--admin",
            f"http://127.0.0.1:{self.serve.admin_port}",
        ]
        token_file = str(self.tmp / "admin-token")
        return subprocess.run(
            [*command, "--token-file", token_file], check=False, capture_output=True, text=True, timeout=30
        )

    def envoy_share(self, backend: str) -> float:
        return envoy_share(self.envoy, backend)

    def tally(self, count: int) -> Counter[str]:
        return tally_upstreams(send_many(self.port, count, PATH))

    def wait_serving_only(self, upstream: str, timeout: float = 10.0) -> None:
        wait_for(lambda: set(self.tally(20)) == {upstream}, timeout, message=f"Envoy serving only {upstream}")

    def wait_rollout(self, predicate: Any, timeout: float, message: str) -> dict[str, Any]:
        result: dict[str, Any] = wait_for(
            lambda: (r := self.rollout()) is not None and predicate(r) and r, timeout, message=message
        )
        return result

    def close(self) -> None:
        self.envoy.stop()
        self.serve.stop()
        self.v1.stop()
        self.v2.stop()


@contextmanager
def explained(stack: RolloutStack) -> Iterator[None]:
    """A failed check also shows what gitxds said: its rollouts and the tail of its log."""
    try:
        yield
    except AssertionError as failed:
        try:
            rollouts = json.dumps(stack.admin("/rollouts"), indent=1)
        except (AssertionError, OSError) as unreadable:
            rollouts = f"(unreadable: {unreadable})"
        raise AssertionError(
            f"{failed}\n/rollouts: {rollouts}\nserve log:\n{stack.serve.log_tail(40)}"
        ) from failed


def measure_steps(
    stack: RolloutStack, batch: int, enough: int, timeout: float
) -> tuple[dict[int, Counter[str]], dict[str, Any]]:
    """``enough`` requests per step, tallied per step, until the rollout ends.

    Each step is held (an operator's pause, which does not count toward the step's own pause) from
    the moment it is seen until Envoy holds its weights (read from Envoy's config dump) and the
    requests are measured, so a slow machine measures every step fully.
    """
    per_step: dict[int, Counter[str]] = {}
    deadline = time.monotonic() + timeout
    rollout = stack.rollout()
    while rollout is not None and rollout["phase"] == "progressing":
        code, _ = stack.command("pause")
        held = stack.rollout()
        if code != 200 or held is None or held["phase"] != "paused" or held["step"] != rollout["step"]:
            if code == 200:
                assert stack.command("resume")[0] == 200  # it moved on first: measure the next one
            rollout = stack.rollout()
            continue
        step, weight = held["step"], held["weight"]
        _wait_envoy_share(stack, weight, deadline)
        counts = per_step.setdefault(step, Counter())
        while sum(counts.values()) < enough:
            counts.update(tally_upstreams(_parallel_batch(stack, batch)))
        assert stack.command("resume")[0] == 200
        rollout = wait_for(
            lambda step=step: _moved_on(stack.rollout(), step), max(0.1, deadline - time.monotonic())
        )
    assert rollout is not None
    return per_step, rollout


def _moved_on(rollout: dict[str, Any] | None, step: int) -> dict[str, Any] | None:
    if rollout is None or (rollout["phase"] == "progressing" and rollout["step"] == step):
        return None
    return rollout


def _wait_envoy_share(stack: RolloutStack, weight: float, deadline: float) -> None:
    wait_for(
        lambda: abs(stack.envoy_share("chat-v2") - weight) < 0.01,
        max(0.1, deadline - time.monotonic()),
        message=f"Envoy serving {weight}% on chat-v2",
    )


def _parallel_batch(stack: RolloutStack, batch: int) -> list[Any]:
    with ThreadPoolExecutor(CLIENTS) as pool:
        batches = list(pool.map(lambda _: send_many(stack.port, batch, PATH), range(CLIENTS)))
    return [response for each in batches for response in each]


def envoy_share(envoy: EnvoyProcess, backend: str) -> float:
    """Percent of the chat route's weight ``envoy`` holds on ``backend`` (from its own config dump)."""
    for config in envoy.config_dump(include_eds=False)["configs"]:
        for dynamic in config.get("dynamic_route_configs", []):
            for host in dynamic["route_config"].get("virtual_hosts", []):
                for route in host.get("routes", []):
                    if route.get("match", {}).get("prefix") == "/v1/chat":
                        return route_share(route["route"], backend)
    raise AssertionError("Envoy has no chat route")


def route_share(action: dict[str, Any], backend: str) -> float:
    if "cluster" in action:
        return 100.0 if action["cluster"] == backend else 0.0
    clusters = action["weighted_clusters"]["clusters"]
    total = sum(int(c.get("weight", 0)) for c in clusters)
    return 100.0 * sum(int(c.get("weight", 0)) for c in clusters if c["name"] == backend) / total


@dataclass
class Traffic:
    """Requests at a steady rate from a background thread, each answer kept with its time."""

    port: int
    send: Callable[[HttpClient], tuple[str, int]]
    per_second: float
    threads: int = 1
    answers: list[tuple[float, str, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Traffic:
        for _ in range(self.threads):
            worker = threading.Thread(target=self._run, daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def _run(self) -> None:
        gap = self.threads / self.per_second
        next_at = time.monotonic()
        with HttpClient(self.port, timeout=10) as client:
            while not self._stop.is_set():
                upstream, status = self.send(client)
                self.answers.append((time.time(), upstream, status))
                next_at += gap
                self._stop.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=10)


def plain_request(client: HttpClient) -> tuple[str, int]:
    response = client.request(PATH)
    return response.upstream or "envoy", response.status
