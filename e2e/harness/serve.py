"""``gitxds serve`` as a real subprocess, and a real Git repository to feed it.

``GitRepo(path)``: ``git init`` with an identity; ``write(relpath, text)``, ``commit(message)`` -> sha,
``revert(sha)`` -> sha, ``head()``.
``ServeProcess(config_dir, workdir, *extra_args, xds_port=None, prefix=(), memory_limit=None)``:
starts ``python -m gitxds serve`` on free ports (or the given xDS port; behind ``prefix``, e.g.
``setpriv`` to drop privileges; with its address space capped at ``memory_limit`` bytes), waits for
the admin endpoint; ``status()``, ``metrics()`` -> {sample line: value}, ``metric(name, **labels)``,
``post(path)``, ``log_tail()``, ``stop()``. ``bootstrap(node_id, cluster, delta)`` runs the real
``gitxds bootstrap`` command and returns its YAML text. ``address_space_cap(limit)``: a
command prefix (``prlimit``) capping a child's memory.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.ports import free_port
from harness.waiting import GiveUpError, wait_for


class GitRepo:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "--quiet", "--initial-branch=main")
        self.git("config", "user.email", "ops@example.com")
        self.git("config", "user.name", "Ops")

    def git(self, *args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=self.path, capture_output=True, text=True, check=True)
        return proc.stdout.strip()

    def write(self, relpath: str, text: str) -> None:
        target = self.path / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "--quiet", "-m", message)
        return self.head()

    def revert(self, sha: str) -> str:
        self.git("revert", "--no-edit", sha)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")


def gitxds_command(*args: str, timeout: float = 30.0) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "gitxds", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise AssertionError(f"gitxds {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc.stdout


def address_space_cap(limit: int | None) -> list[str]:
    """A command prefix that caps the child's address space: a runaway allocation is a MemoryError.

    ``prlimit`` sets the limit in the child after exec. A ``preexec_fn`` would run Python between fork
    and exec in a test process whose gRPC threads hold locks, and gRPC aborts such children.
    """
    return [] if limit is None else ["prlimit", f"--as={limit}", "--"]


class ServeProcess:
    def __init__(
        self,
        config_dir: Path | None,
        workdir: Path,
        *extra_args: str,
        xds_port: int | None = None,
        admin_port: int | None = None,
        prefix: Sequence[str] = (),
        memory_limit: int | None = None,
    ) -> None:
        self.xds_port = xds_port or free_port()  # a restarted server keeps its port for the Envoys
        self.admin_port = admin_port or free_port()  # a peer replica may have to know it beforehand
        self.log_path = workdir / f"gitxds-serve-{self.admin_port}.log"
        command = [*address_space_cap(memory_limit), *prefix, sys.executable, "-m", "gitxds", "serve"]
        if config_dir is not None:
            command.append(str(config_dir))
        command += [
            "--xds-address",
            f"127.0.0.1:{self.xds_port}",
            "--admin-address",
            f"127.0.0.1:{self.admin_port}",
            *extra_args,
        ]
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_for(self._admin_up, timeout=20, message="gitxds serve admin endpoint")

    @property
    def xds_address(self) -> str:
        return f"127.0.0.1:{self.xds_port}"

    def _admin_up(self) -> bool:
        if self.process.poll() is not None:
            raise GiveUpError(f"gitxds serve exited {self.process.returncode}:\n{self.log_tail()}")
        try:
            self.get("/healthz")
        except OSError:
            return False
        return True

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.admin_port}{path}", headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def post(self, path: str) -> tuple[int, str]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.admin_port}{path}", method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()

    def status(self) -> dict[str, Any]:
        code, body = self.get("/status")
        assert code == 200, body
        data: dict[str, Any] = json.loads(body)
        return data

    def metrics(self) -> dict[str, float]:
        _, body = self.get("/metrics")
        samples: dict[str, float] = {}
        for line in body.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                samples[key] = float(value)
        return samples

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels``."""
        total = 0.0
        for key, value in self.metrics().items():
            sample, _, label_text = key.partition("{")
            if sample == name and all(f'{k}="{v}"' in label_text for k, v in labels.items()):
                total += value
        return total

    def bootstrap(self, node_id: str, cluster: str, *, delta: bool = False) -> str:
        args = ["bootstrap", "--xds-address", self.xds_address, "--node-id", node_id]
        args += ["--node-cluster", cluster, "--admin-port", "0"]
        return gitxds_command(*args, *(["--delta"] if delta else []))

    def log_tail(self, lines: int = 40) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
