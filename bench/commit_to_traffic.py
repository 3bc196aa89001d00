"""Time from a config change to a real Envoy answering with the new behaviour.

A real ``gitxds serve`` process serves a small config to a real Envoy with two real upstreams. Each
trial flips the route between the upstreams and polls Envoy until the answer comes from the new one.

Modes:
  dir       the watched directory changes (an editor's write-then-rename of one file)
  git-push  a commit is pushed to the remote that ``gitxds serve --git-url`` follows, then the push
            webhook (``POST /sync``) fires
Each mode runs with the resident validator Envoy checking each version before publishing (the
default) and without it. ``--debounce`` passes a watcher quiet time to ``gitxds serve`` (its default
otherwise); the watcher sees a change after about 1.5 times the quiet time.

    python -m bench.commit_to_traffic [--trials 50] [--modes dir git-push] [--debounce 5ms]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from bench._servers import free_port, start_upstream

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
metadata: {{name: blue}}
spec: {{endpoints: [{{address: 127.0.0.1, port: {blue}}}]}}
---
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {{name: green}}
spec: {{endpoints: [{{address: 127.0.0.1, port: {green}}}]}}
"""
ROUTE = """\
apiVersion: gitxds.dev/v1alpha1
kind: Route
metadata: {{name: chat}}
spec:
  gateways: [edge]
  rules: [{{backends: [{{name: {target}}}]}}]
"""


def write_atomically(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text)
    os.replace(temp, path)


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


class Poller:
    """Sends requests to Envoy on one keep-alive connection until the body names ``target``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)

    def answer(self) -> str:
        try:
            self.conn.request("GET", "/")
            response = self.conn.getresponse()
            return response.read().decode()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            return ""

    def wait_for(self, target: str, timeout: float = 10.0) -> float:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.answer() == target:
                return time.perf_counter()
        raise TimeoutError(f"Envoy never answered from {target}")


@contextmanager
def running(command: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def envoy_bootstrap(xds_port: int, workdir: Path) -> Path:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "gitxds",
            "bootstrap",
            "--xds-address",
            f"127.0.0.1:{xds_port}",
            "--node-id",
            "bench-1",
            "--node-cluster",
            "edge",
            "--admin-port",
            str(free_port()),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = workdir / "envoy.yaml"
    path.write_text(out)
    return path


def wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(url)


def run_mode(mode: str, validate: bool, trials: int, debounce: str | None = None) -> list[float]:
    blue, blue_port = start_upstream("blue")
    green, green_port = start_upstream("green")
    listener, xds_port, admin_port = free_port(), free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="gitxds-c2t-") as tmp:
        work = Path(tmp)
        repo = work / "repo"
        repo.mkdir()
        (repo / "base.yaml").write_text(CONFIG.format(listener=listener, blue=blue_port, green=green_port))
        (repo / "route.yaml").write_text(ROUTE.format(target="blue"))
        serve = [sys.executable, "-m", "gitxds", "serve", "--xds-address", f"127.0.0.1:{xds_port}"]
        serve += ["--admin-address", f"127.0.0.1:{admin_port}", "--log-level", "warning"]
        serve += [] if validate else ["--no-envoy-validate"]
        serve += ["--debounce", debounce] if debounce else []
        if mode == "git-push":
            git(repo, "init", "-q", "-b", "main")
            git(repo, "-c", "user.email=b@x", "-c", "user.name=b", "commit", "-qam", "init", "--allow-empty")
            git(repo, "add", "-A")
            git(repo, "-c", "user.email=b@x", "-c", "user.name=b", "commit", "-qm", "config")
            remote = work / "remote.git"
            git(work, "clone", "-q", "--bare", str(repo), str(remote))
            git(repo, "remote", "add", "origin", str(remote))
            serve += ["--git-url", str(remote), "--checkout-dir", str(work / "checkout"), "--poll", "1h"]
        else:
            serve.append(str(repo))
        envoy = shutil.which("envoy", path=str(Path(sys.executable).parent))
        assert envoy, "the Envoy binary is missing from the virtualenv"
        with running(serve, work / "serve.log"):
            wait_http(f"http://127.0.0.1:{admin_port}/readyz")
            command = [envoy, "-c", str(envoy_bootstrap(xds_port, work)), "--base-id", str(listener)]
            with running([*command, "-l", "error", "--concurrency", "1"], work / "envoy.log"):
                poller = Poller(listener)
                poller.wait_for("blue", timeout=20)
                samples = []
                for trial in range(trials):
                    target = "green" if trial % 2 == 0 else "blue"
                    started = time.perf_counter()
                    if mode == "git-push":
                        (repo / "route.yaml").write_text(ROUTE.format(target=target))
                        git(repo, "-c", "user.email=b@x", "-c", "user.name=b", "commit", "-qam", target)
                        git(repo, "push", "-q", "origin", "main")
                        urllib.request.urlopen(
                            urllib.request.Request(f"http://127.0.0.1:{admin_port}/sync", method="POST")
                        ).read()
                    else:
                        write_atomically(repo / "route.yaml", ROUTE.format(target=target))
                    samples.append(poller.wait_for(target) - started)
                    time.sleep(0.05)
    blue.shutdown()
    green.shutdown()
    return samples


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.commit_to_traffic", description=__doc__)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--modes", nargs="+", default=["dir", "git-push"], choices=["dir", "git-push"])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument("--debounce", help="gitxds serve --debounce (default: serve's own)")
    args = parser.parse_args(argv)
    rows = []
    load = " ".join(f"{figure:.2f}" for figure in os.getloadavg())
    print(f"load average {load}; serve --debounce {args.debounce or 'default'}")
    print(f"{'change':<10} {'envoy validate':<15} {'p50':>8} {'p99':>8} {'max':>8}  ({args.trials} trials)")
    for mode in args.modes:
        for validate in (False, True):
            samples = run_mode(mode, validate, args.trials, args.debounce)
            row = {
                "mode": mode,
                "validate": validate,
                "p50_ms": statistics.median(samples) * 1000,
                "p99_ms": percentile(samples, 0.99) * 1000,
                "max_ms": max(samples) * 1000,
            }
            rows.append(row)
            print(
                f"{mode:<10} {'on' if validate else 'off':<15} {row['p50_ms']:>6.1f}ms "
                f"{row['p99_ms']:>6.1f}ms {row['max_ms']:>6.1f}ms"
            )
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
