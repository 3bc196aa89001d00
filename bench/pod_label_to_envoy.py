"""Time from a pod label change to a real Envoy holding the new endpoints of a subset.

A real ``gitxds serve --kubeconfig`` follows the FAKE Kubernetes API server of the tests (no real API
server can run here) for Service ai/chat with two pods; Backends chat-v1 and chat-v2 select pods by
``version``. Each trial relabels pod b between v1 and v2 and polls Envoy's admin ``/clusters`` until
chat-v2 lists exactly the pods now labelled v2. Two figures per trial:

  label -> Envoy   from the relabel request to the fake API server until Envoy holds the endpoints
  watch -> Envoy   from the fake server writing the pod's watch event until then (gitxds + xDS + Envoy)

    python -m bench.pod_label_to_envoy [--trials 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "e2e"), str(ROOT / "tests")]  # the e2e harness and the fake API server

from ruamel.yaml import YAML  # noqa: E402

from harness import EnvoyProcess, free_port, wait_for  # noqa: E402
from harness.configs import document, gateway_doc, route_doc, write_config  # noqa: E402
from harness.kube import PodCluster  # noqa: E402
from harness.serve import ServeProcess  # noqa: E402

PODS = {"chat-a": {"version": "v1"}, "chat-b": {"version": "v1"}}


def config(listen: int, pod_port: int) -> list[dict[str, object]]:
    def version(name: str) -> dict[str, object]:
        source = {"service": "chat", "namespace": "ai", "port": pod_port, "selector": {"version": name}}
        return document("Backend", f"chat-{name}", {"kubernetes": source})

    split = [{"backends": [{"name": "chat-v1", "weight": 50}, {"name": "chat-v2", "weight": 50}]}]
    return [gateway_doc("edge", listen), version("v1"), version("v2"), route_doc("chat", split)]


def run(trials: int) -> tuple[list[float], list[float]]:
    cluster = PodCluster()
    cluster.add_service("ai", "chat", PODS)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        listen = free_port()
        write_config(workdir / "config", config(listen, cluster.pod_port))
        serve = ServeProcess(
            workdir / "config", workdir, "--kubeconfig", str(cluster.kubeconfig(workdir / "kc"))
        )
        envoy = EnvoyProcess(YAML(typ="safe").load(serve.bootstrap("envoy-1", "edge")), workdir).start()
        try:
            return trials_of(cluster, envoy, trials)
        finally:
            envoy.stop()
            serve.stop()
            cluster.stop()


def trials_of(cluster: PodCluster, envoy: EnvoyProcess, trials: int) -> tuple[list[float], list[float]]:
    def v2_hosts() -> list[str]:
        return sorted(h.address for h in envoy.hosts("chat-v2"))

    wait_for(lambda: len(envoy.hosts("chat-v1")) == 2, 20, message="Envoy has both v1 pods")
    from_label, from_watch = [], []
    for trial in range(trials):
        moved = trial % 2 == 0  # chat-b goes to v2, then back to v1
        wanted = [cluster.address("chat-b")] if moved else []
        started = time.monotonic()
        version = cluster.relabel("ai", "chat-b", {"version": "v2" if moved else "v1"})
        while v2_hosts() != wanted:
            time.sleep(0.0005)
        held = time.monotonic()
        from_label.append(held - started)
        from_watch.append(held - cluster.api.sent_at[version])
    return from_label, from_watch


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pod_label_to_envoy", description=__doc__)
    parser.add_argument("--trials", type=int, default=30)
    args = parser.parse_args(argv)
    from_label, from_watch = run(args.trials)
    for name, samples in (("label -> Envoy", from_label), ("watch -> Envoy", from_watch)):
        ms = sorted(s * 1000 for s in samples)
        print(
            f"{name}: median {statistics.median(ms):.1f} ms  (min {ms[0]:.1f}, max {ms[-1]:.1f}, "
            f"{len(ms)} trials)"
        )


if __name__ == "__main__":
    main()
