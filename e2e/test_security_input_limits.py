"""Hostile files in the config directory: links out of it, special files, an unreadable file, alias
bombs and a 50 MB file.

Each one goes through `gitxds validate`, `gitxds diff` and a running `gitxds serve`, all without the
capabilities that let root read any file (``setpriv``, so a mode-000 file really is unreadable) and
with their address space capped (so a bomb that expands is a MemoryError here, not a machine out of
memory). Each is refused with
its own reason code and names the file; nothing it points at is read or echoed (a canary in the
files outside the config directory is searched for in every output); serving goes on, and the next
good change is served.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from harness import wait_for
from harness.hostile import alias_bomb, large_config
from harness.serve import ServeProcess, address_space_cap

CANARY = "canary-outside-5be21f0d"
UNPRIVILEGED = ("setpriv", "--bounding-set=-dac_override,-dac_read_search")
SERVE_MEMORY = 2 * 1024**3
VALIDATE_MEMORY = 1024**3
GATEWAY = """\
apiVersion: gitxds.dev/v1alpha1
kind: Gateway
metadata: {{name: edge}}
spec:
  proxies: {{cluster: edge}}
  listeners: [{{name: http, port: {port}, address: 127.0.0.1}}]
"""


def _atomic_write(path: Path, text: str) -> None:
    """Write beside, then rename into place: a reload never sees half a file."""
    staged = path.parent.parent / f"staged-{path.name}"
    staged.write_text(text)
    staged.rename(path)


def _secret_link(config: Path, outside: Path) -> None:
    (config / "routes").mkdir(exist_ok=True)
    (config / "routes" / "leak.yaml").symlink_to(outside / "provider-key")


def _unreadable(config: Path, _outside: Path) -> None:
    (config / "locked.yaml").write_text(GATEWAY.format(port=10999).replace("edge", "locked"))
    (config / "locked.yaml").chmod(0)


# name -> (make the hostile entry in the config dir, the file the diagnostic names, reason code)
CASES: dict[str, tuple[Callable[[Path, Path], None], str, str]] = {
    "link to a secret": (_secret_link, "routes/leak.yaml", "LinkOutsideConfig"),
    "link to a folder": (lambda c, o: (c / "x.yaml").symlink_to(o), "x.yaml", "LinkOutsideConfig"),
    "link to /dev/zero": (
        lambda c, o: (c / "zero.yaml").symlink_to("/dev/zero"), "zero.yaml", "LinkOutsideConfig"
    ),
    "link cycle": (lambda c, o: (c / "loop").symlink_to("."), "loop", "LinkCycle"),
    "FIFO": (lambda c, o: os.mkfifo(c / "fifo.yaml"), "fifo.yaml", "NotARegularFile"),
    "unreadable file": (_unreadable, "locked.yaml", "UnreadableFile"),
    "alias bomb 371 bytes": (lambda c, o: _atomic_write(c / "bomb-371.yaml", alias_bomb(5)),
                             "bomb-371.yaml", "AliasExpansionTooLarge"),
    "alias bomb 488 bytes": (lambda c, o: _atomic_write(c / "bomb-488.yaml", alias_bomb(8)),
                             "bomb-488.yaml", "AliasExpansionTooLarge"),
    "50 MB file": (
        lambda c, o: _atomic_write(c / "big.yaml", large_config(50 * 1024 * 1024)), "big.yaml", "FileTooLarge"
    ),
}  # fmt: skip
COMMITTABLE = (
    "link to a secret",
    "link to a folder",
    "link cycle",
    "alias bomb 371 bytes",
    "alias bomb 488 bytes",
)


def _remove(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink()
    else:
        shutil.rmtree(path)


def _outside(base: Path) -> Path:
    """A secret file and a folder of YAML files, all holding the canary, outside the config dir."""
    outside = base / "outside"
    outside.mkdir()
    (outside / "provider-key").write_text(f"Bearer sk-{CANARY}\n")
    for index in range(3):
        (outside / f"doc-{index}.yaml").write_text(f"kind: Backend\nmetadata: {{name: {CANARY}}}\n")
    return outside


def _config(base: Path, port: int) -> Path:
    config = base / "config"
    config.mkdir()
    (config / "gateway.yaml").write_text(GATEWAY.format(port=port))
    return config


def _gitxds(*args: str) -> tuple[int, str]:
    """``gitxds ARGS`` unprivileged and memory-capped: exit code, stdout and stderr."""
    completed = subprocess.run(
        [*address_space_cap(VALIDATE_MEMORY), *UNPRIVILEGED, sys.executable, "-m", "gitxds", *args],
        capture_output=True,
        text=True,
        timeout=60,  # a FIFO opened for reading would hang here
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert "Traceback" not in output and "MemoryError" not in output, output
    return completed.returncode, output


def _assert_clean(output: str, outside: Path) -> None:
    assert CANARY not in output and str(outside) not in output, output


def test_validate_and_diff_refuse_each_hostile_entry(tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    config = _config(tmp_path, 10000)
    _git(config, "init", "--quiet", "--initial-branch=main")
    _git(config, "add", "-A")
    _git(config, "commit", "--quiet", "-m", "good")
    for case in COMMITTABLE:
        CASES[case][0](config, outside)
    _git(config, "add", "-A")
    _git(config, "commit", "--quiet", "-m", "hostile links and bombs")
    code, output = _gitxds("diff", "--base", "HEAD~1", "--head", "HEAD", str(config))
    assert code == 2, output
    _assert_clean(output, outside)
    committed = sorted((CASES[case][1], CASES[case][2]) for case in COMMITTABLE)
    assert _reported(output) == committed

    for case in set(CASES) - set(COMMITTABLE):
        CASES[case][0](config, outside)
    expected = sorted((file, reason) for _, file, reason in CASES.values())
    code, output = _gitxds("diff", "--base", "HEAD~1", str(config))  # the work tree as it is
    assert code == 2, output
    _assert_clean(output, outside)
    assert _reported(output) == expected
    code, output = _gitxds("validate", str(config), "--output", "json")
    assert code == 1, output
    _assert_clean(output, outside)
    assert sorted((d["file"], d["reason"]) for d in json.loads(output)) == expected


def _reported(diff_output: str) -> list[tuple[str, str]]:
    """(file, reason) of each ``head: FILE[:LINE] [path:] Reason: message`` line of ``gitxds diff``."""
    found = []
    for line in diff_output.splitlines():
        if line.startswith("head: "):
            words = line.removeprefix("head: ").split()
            reason = next(w.rstrip(":") for w in words[1:] if w.endswith(":") and w[:1].isupper())
            found.append((words[0].split(":")[0], reason))
    return sorted(found)


def _git(cwd: Path, *args: str) -> None:
    git = ["git", "-c", "user.email=ops@example.com", "-c", "user.name=Ops", *args]
    subprocess.run(git, cwd=cwd, check=True, capture_output=True)


def test_serve_refuses_each_hostile_entry_and_serves_the_next_good_change(tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    config = _config(tmp_path, 10000)
    serve = ServeProcess(config, tmp_path, "--no-envoy-validate", "--log-level", "debug",
                         prefix=UNPRIVILEGED, memory_limit=SERVE_MEMORY)  # fmt: skip
    try:
        served = wait_for(lambda: _served(serve), 20, message="the first version served")
        outputs: dict[str, str] = {}
        for number, (case, (make, file, reason)) in enumerate(CASES.items(), start=1):
            make(config, outside)
            refused = wait_for(partial(_refused, serve, reason), 60, message=f"{case} refused")
            assert [(d["file"], d["reason"]) for d in refused["diagnostics"]] == [(file, reason)], case
            _remove(config / file.split("/")[0])
            _atomic_write(config / "gateway.yaml", GATEWAY.format(port=10000 + number))
            served = wait_for(partial(_served, serve, served), 20, message=f"good change after {case}")
            listeners = serve.get("/config_dump?gateway=edge")[1]
            assert str(10000 + number) in listeners, case
            assert serve.metric("gitxds_config_errors_total", reason=reason) >= 1, case
            outputs[f"status after {case}"] = json.dumps(serve.status())
        outputs["metrics"] = serve.get("/metrics")[1]
        outputs["log"] = serve.log_path.read_text(errors="replace")
        assert "Traceback" not in outputs["log"] and "MemoryError" not in outputs["log"]
        leaks = [name for name, text in outputs.items() if CANARY in text or str(outside) in text]
        assert leaks == []
    finally:
        serve.stop()


def _served(serve: ServeProcess, after: str | None = None) -> str | None:
    config = serve.status()["config"]
    served = config.get("served") or {}
    last = config.get("last_attempt") or {}
    if served.get("version") in (None, after) or last.get("version") != served.get("version"):
        return None
    return str(served["version"])


def _refused(serve: ServeProcess, reason: str) -> dict[str, Any] | None:
    last: dict[str, Any] = serve.status()["config"].get("last_attempt") or {}
    if last.get("result") != "rejected" or reason not in {d["reason"] for d in last["diagnostics"]}:
        return None
    return last
