"""Two replicas behind one Lease (the FAKE Lease server of tests/fakes): one drives the rollout, both
serve the same step, a restarted replica comes back at that step, and the driver judges the traffic
of proxies connected to either replica.

Real ``gitxds serve`` processes, real Envoys (each connected to a different replica, each on its own
gateway so their listeners do not share a port), real upstreams, real git with a local bare remote.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from fakes.kube_leases import FakeLeaseApi
from harness import EnvoyProcess, free_port, wait_for
from harness.client import send_many, tally_upstreams
from harness.serve import ServeProcess
from rollout_stack import PATH, TOKEN, RolloutStack, Traffic, envoy_share, plain_request, policy, route_share

AUTH = {"Authorization": f"Bearer {TOKEN}"}
INTERVAL = 2.0
ANALYSIS = f"{{interval: {INTERVAL:g}s, minRequests: 10, failureLimit: 1, successRate: {{min: 95%}}}}"
STEPS = "[{weight: 50, pause: 10m}, {weight: 80, pause: 10m}]"


class SecondReplica:
    """Replica B: the same remote and Lease, its own checkout, its own Envoy on gateway edge-b."""

    def __init__(self, stack: RolloutStack, admin_port: int, peer_of: int) -> None:
        self.dir = stack.tmp / "second"
        self.dir.mkdir(exist_ok=True)
        args = list(stack.serve_args)
        args[args.index("--checkout-dir") + 1] = str(self.dir / "checkout")
        args[args.index("--peer") + 1] = f"http://127.0.0.1:{peer_of}"
        self.args, self.admin_port = args, admin_port
        self.serve = ServeProcess(Path("."), self.dir, *args, admin_port=admin_port)
        bootstrap: dict[str, Any] = YAML(typ="safe").load(self.serve.bootstrap("envoy-b", stack.cluster_b))
        self.envoy = EnvoyProcess(bootstrap, self.dir).start()
        self.envoy.wait_listening(stack.port_b, timeout=10)

    def restart(self) -> None:
        self.serve.stop()
        self.serve = ServeProcess(
            Path("."), self.dir, *self.args, xds_port=self.serve.xds_port, admin_port=self.admin_port
        )

    def admin(self, path: str) -> dict[str, Any]:
        code, body = self.serve.get(path, headers=AUTH)
        assert code == 200, (code, body)
        data: dict[str, Any] = json.loads(body)
        return data

    def served_share(self) -> float:
        """Percent on chat-v2 in what this replica serves gateway edge-b (its config dump)."""
        dump = self.admin("/config_dump?gateway=edge-b")
        text = json.dumps(dump)
        assert "chat-v2" in text or "chat-v1" in text, text[:500]
        for route in _routes(dump):
            if route.get("match", {}).get("prefix") == "/v1/chat":
                return route_share(route["route"], "chat-v2")
        raise AssertionError("no chat route served to edge-b")

    def close(self) -> None:
        self.envoy.stop()
        self.serve.stop()


def _routes(node: Any) -> list[dict[str, Any]]:
    """Every Envoy route object (a dict with ``match`` and ``route``) anywhere in a config dump."""
    if isinstance(node, dict):
        if "match" in node and "route" in node:
            return [node]
        return [r for value in node.values() for r in _routes(value)]
    if isinstance(node, list):
        return [r for value in node for r in _routes(value)]
    return []


def _published(fake: FakeLeaseApi) -> str:
    """The progress the holder last wrote into the Lease (its annotation, JSON text)."""
    lease = fake.leases.get(("gitxds", "rollouts"), {})
    return str(lease.get("metadata", {}).get("annotations", {}).get("gitxds.dev/rollouts", ""))


def _driving(replica: dict[str, Any]) -> bool:
    return bool(replica.get("driving"))


def _rolled_back(rollouts: dict[str, Any], commit: str) -> dict[str, Any] | None:
    for rollout in (*rollouts["current"], *rollouts["ended"]):
        if rollout["commit"] == commit and rollout["phase"] == "rolled-back":
            return dict(rollout)
    return None


class Replicas:
    """Replica A (the stack's serve, started first: it holds the Lease) and replica B, peers of each
    other, each with its own Envoy; a rollout of chat to chat-v2 started and served by both at 50%."""

    def __init__(self, tmp: Path, fake: FakeLeaseApi) -> None:
        self.fake = fake
        kubeconfig = str(fake.write_kubeconfig(tmp / "kubeconfig"))
        b_admin = free_port()
        self.stack = RolloutStack(
            tmp,
            policy(STEPS, analysis=ANALYSIS),
            *("--rollout-lease", "gitxds/rollouts", "--kubeconfig", kubeconfig),
            *("--peer", f"http://127.0.0.1:{b_admin}"),
            settle="1.5s",
            second_gateway=True,
        )
        self.b: SecondReplica | None = None
        stack = self.stack
        wait_for(lambda: _driving(stack.admin("/rollouts")), 15, message="replica A holds the lease")
        self.b = b = SecondReplica(stack, b_admin, peer_of=stack.serve.admin_port)
        assert not _driving(b.admin("/rollouts"))
        wait_for(
            lambda: set(tally_upstreams(send_many(stack.port_b, 10, PATH))) == {"chat-v1"},
            10,
            message="Envoy B serving chat-v1",
        )
        self.commit = commit = stack.push("chat-v2", "move chat to chat-v2")
        self.started = stack.wait_rollout(lambda r: r["commit"] == commit, 10, "rollout started on A")
        for envoy in (stack.envoy, b.envoy):
            wait_for(lambda e=envoy: envoy_share(e, "chat-v2") == 50.0, 15, message="both Envoys at 50%")
        [on_b] = b.admin("/rollouts")["current"]
        assert (on_b["commit"], on_b["step"], on_b["phase"]) == (commit, 0, "progressing")

    def close(self) -> None:
        if self.b is not None:
            self.b.close()
        self.stack.close()


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[Replicas]:
    with FakeLeaseApi() as fake:
        running = Replicas(tmp_path, fake)
        try:
            yield running
        finally:
            running.close()


def test_the_driver_rolls_back_on_failures_seen_only_through_the_other_replicas_proxy(
    replicas: Replicas,
) -> None:
    stack, b, commit = replicas.stack, replicas.b, replicas.commit
    assert b is not None

    # A restarted follower (no state file) serves the step from its first version on.
    b.restart()
    assert b.served_share() == 50.0
    [on_b] = b.admin("/rollouts")["current"]
    assert (on_b["commit"], on_b["step"]) == (commit, 0)
    wait_for(lambda: b.admin("/status")["proxies"], 45, message="Envoy B reconnected")
    assert envoy_share(b.envoy, "chat-v2") == 50.0

    # chat-v2 fails one answer in five, and only Envoy B (connected to B) carries traffic.
    stack.v2.configure(fail_status=500, fail_mode="every", fail_count=5)
    traffic = Traffic(stack.port_b, plain_request, per_second=60).start()
    try:
        rollout = wait_for(
            lambda: _rolled_back(stack.admin("/rollouts"), commit), 30, message="A rolled back"
        )
    finally:
        traffic.stop()
    breaches = [e for e in rollout["evidence"] if not e["held"]]
    assert breaches and {(e["metric"], e["backend"]) for e in breaches} == {("successRate", "chat-v2")}
    assert all(e["requests"] >= 10 and e["unanswered"] == [] for e in breaches), breaches
    # Replica A's own proxies logged nothing: every request judged came through replica B.
    assert stack.admin("/usage?window=60")["received"] == 0
    assert b.admin("/usage?window=60")["received"] >= 10
    wait_for(lambda: envoy_share(b.envoy, "chat-v2") == 0.0, 15, interval=0.01, message="Envoy B at 0%")
    took = time.time() - rollout["firstFailureAt"]  # an upper bound: polled after A's rollback
    print(f"\nend of first failing interval -> Envoy B (a follower's proxy) at 0% chat-v2: {took:.2f}s")
    wait_for(lambda: envoy_share(stack.envoy, "chat-v2") == 0.0, 15, message="Envoy A at 0%")
    wait_for(lambda: _rolled_back(b.admin("/rollouts"), commit), 10, message="B shows the rollback")
    wait_for(
        lambda: any(f"This reverts commit {commit}" in e for e in stack.remote_log()),
        15,
        message="the driver pushed the revert",
    )


def test_when_the_driver_stops_the_other_replica_goes_on_at_the_same_step(replicas: Replicas) -> None:
    stack, b, before = replicas.stack, replicas.b, replicas.started
    assert b is not None
    wait_for(lambda: replicas.commit in _published(replicas.fake), 5, message="progress in the Lease")
    stack.serve.stop()  # the Lease holder goes away without a word
    wait_for(lambda: _driving(b.admin("/rollouts")), 30, message="replica B took the lease over")
    [after] = b.admin("/rollouts")["current"]
    assert (after["commit"], after["step"], after["phase"]) == (replicas.commit, 0, "progressing")
    assert after["stepStartedAt"] == before["stepStartedAt"]  # the same step, not a new one
    assert envoy_share(b.envoy, "chat-v2") == 50.0
    request = urllib.request.Request(
        f"http://127.0.0.1:{b.admin_port}/rollouts/promote", method="POST", headers=AUTH
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # B takes the commands now
        assert response.status == 200
    wait_for(lambda: envoy_share(b.envoy, "chat-v2") == 100.0, 15, message="Envoy B on the new split")
