"""A rollback's revert pushed with credentials from the secret store (``--git-credentials``).

Real git over smart HTTP (``git http-backend`` behind a server that requires credentials), real
``gitxds serve``, a real Envoy and real upstreams. The secret store entry first holds a read-only
credential: clone and fetch work, the revert's push is refused and status says why, with no retry.
The entry is then rotated to a credential that may push (read again, no restart): the next rollback
pushes its revert. The credential bytes appear in no log, status, CLI output, checkout config or
process argument list. Over SSH (an SSH server running real git-upload-pack / git-receive-pack), a
folder entry with the private key and known_hosts fetches and pushes the revert.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import wait_for
from harness.git_http import GitHttpServer, basic
from harness.git_ssh import GitSshServer
from rollout_stack import TOKEN, RolloutStack, explained, policy

READER = ("gitxds-reader", "read-9f2c81d7e4a3b6")
WRITER_TOKEN = "write-5b7e0c4d9a1f26e8c3"  # a bare token: sent as a Bearer header
GIT_WAIT = 30.0  # a push, a poll and a build on a loaded machine


class ProcessArgs:
    """Every command line of ``pid`` and its descendants (git and its helpers), seen while they run."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._scan, daemon=True)
        self._thread.start()

    def _scan(self) -> None:
        while not self._stop.is_set():
            pending = [self.pid]
            while pending:
                pid = pending.pop()
                try:
                    self.seen.add((Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")).decode())
                    for children in Path(f"/proc/{pid}/task").glob("*/children"):
                        pending += [int(child) for child in children.read_text().split()]
                except (OSError, ValueError):
                    continue  # it ended meanwhile
            self._stop.wait(0.01)

    def stop(self) -> set[str]:
        self._stop.set()
        self._thread.join(timeout=5)
        return self.seen


@pytest.fixture
def http_stack(tmp_path: Path) -> Iterator[tuple[RolloutStack, GitHttpServer, Path]]:
    server = GitHttpServer(tmp_path, read={basic(*READER)}, write={f"Bearer {WRITER_TOKEN}"}).start()
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    entry = secrets / "git"
    entry.write_text(":".join(READER) + "\n")
    stack = RolloutStack(
        tmp_path,
        policy("[{weight: 50, pause: 10m}]"),
        "--secrets-dir", str(secrets), "--git-credentials", "git",
        git_url=server.url("remote.git"),
    )  # fmt: skip
    yield stack, server, entry
    stack.close()
    server.stop()


def test_the_revert_is_pushed_with_the_secret_store_credential_and_it_never_leaks(
    http_stack: tuple[RolloutStack, GitHttpServer, Path],
) -> None:
    stack, server, entry = http_stack
    with explained(stack):
        args = ProcessArgs(stack.serve.process.pid)
        stack.wait_serving_only("chat-v1")  # cloned and fetched with the read-only credential
        assert server.requests and all(status == 200 for _, status in server.requests)
        assert stack.admin("/status")["config"]["git"]["credentials"] == "git"

        # Read-only credential: the revert's push is refused; the old split serves; Git is told by hand.
        first = stack.push("chat-v2", "move chat to chat-v2")
        stack.wait_rollout(lambda r: r["commit"] == first, GIT_WAIT, "rollout started")
        assert stack.command("abort")[0] == 200
        stack.wait_serving_only("chat-v1")
        refused = stack.wait_rollout(
            lambda r: "revert it" in r["note"], GIT_WAIT, "the refused push reported"
        )
        assert refused["note"].startswith(f"rolled back; Git still declares {first}: revert it (")
        assert "403" in refused["note"], refused["note"]
        assert server.pushes() == [403]

        # Rotated in the store (no restart). A commit that leaves chat alone is served, nothing retries.
        entry.write_text(WRITER_TOKEN + "\n")
        stack.repo.write("notes.yaml", "# unrelated\n")
        unrelated = stack.push_commit("an unrelated change")
        wait_for(lambda: _served(stack) == unrelated, GIT_WAIT, message="unrelated commit served")
        assert server.pushes() == [403]
        assert stack.rollout()["phase"] == "rolled-back"  # type: ignore[index]
        stack.wait_serving_only("chat-v1")

        # Git is reverted by hand; the next rollout's rollback pushes with the rotated credential.
        by_hand = stack.push("chat-v1", "revert chat to chat-v1 by hand")
        wait_for(lambda: _served(stack) == by_hand, GIT_WAIT, message="the hand-made revert served")
        second = stack.push("chat-v2", "move chat to chat-v2 again")
        stack.wait_rollout(
            lambda r: r["commit"] == second and r["phase"] == "progressing", GIT_WAIT, "second rollout"
        )
        assert stack.command("abort")[0] == 200
        revert = wait_for(lambda: _revert_of(stack, second), GIT_WAIT, message="revert commit on the remote")
        assert "aborted by the admin endpoint" in revert
        assert server.pushes() == [403, 200]
        head = stack.remote_log()[0].split("\x00")[0]
        wait_for(lambda: _served(stack) == head, GIT_WAIT, message="the revert served")
        stack.wait_serving_only("chat-v1")

    secrets = [READER[1], WRITER_TOKEN, base64.b64encode(":".join(READER).encode()).decode()]
    _assert_nowhere(stack, args.stop(), secrets)


def test_an_ssh_key_from_the_secret_store_fetches_and_pushes_the_revert(tmp_path: Path) -> None:
    """A folder entry as a Kubernetes ssh-auth Secret mounts it: ssh-privatekey and known_hosts."""
    server = GitSshServer(tmp_path).start()
    entry = tmp_path / "secrets" / "git"
    entry.mkdir(parents=True)
    (entry / "ssh-privatekey").write_text(server.client_key)
    (entry / "known_hosts").write_text(server.known_hosts)
    stack = RolloutStack(
        tmp_path,
        policy("[{weight: 50, pause: 10m}]"),
        "--secrets-dir", str(tmp_path / "secrets"), "--git-credentials", "git",
        git_url=server.url(tmp_path / "remote.git"),
    )  # fmt: skip
    args = ProcessArgs(stack.serve.process.pid)
    try:
        with explained(stack):
            stack.wait_serving_only("chat-v1")
            commit = stack.push("chat-v2", "move chat to chat-v2")
            stack.wait_rollout(lambda r: r["commit"] == commit, GIT_WAIT, "rollout started")
            assert stack.command("abort")[0] == 200
            wait_for(lambda: _revert_of(stack, commit), GIT_WAIT, message="revert commit pushed over SSH")
            # receive-pack updates the branch before it exits and the server records it
            wait_for(
                lambda: ("receive-pack", 0) in server.commands, GIT_WAIT, message="the push went over SSH"
            )
            head = stack.remote_log()[0].split("\x00")[0]
            wait_for(lambda: _served(stack) == head, GIT_WAIT, message="the revert served")
            stack.wait_serving_only("chat-v1")
            key_body = [line for line in server.client_key.splitlines() if "PRIVATE KEY" not in line]
            seen = args.stop()
            assert any(line.startswith("ssh -i ") for line in seen), "no ssh with the key file seen"
            _assert_nowhere(stack, seen, key_body)
    finally:
        stack.close()
        server.stop()


def _assert_nowhere(stack: RolloutStack, command_lines: set[str], secrets: list[str]) -> None:
    assert any(line.startswith("git ") for line in command_lines), "no git command seen"
    places = {
        "serve log": stack.serve.log_path.read_text(errors="replace"),
        "/status": stack.serve.get("/status", headers={"Authorization": f"Bearer {TOKEN}"})[1],
        "/rollouts": stack.serve.get("/rollouts", headers={"Authorization": f"Bearer {TOKEN}"})[1],
        "gitxds status": _gitxds_status(stack),
        "command lines": "\n".join(command_lines),
    }
    git_dir = stack.tmp / "checkout" / ".git"
    places |= {str(f): f.read_bytes().decode(errors="replace") for f in git_dir.rglob("*") if f.is_file()}
    assert "a revert of" in places["serve log"]  # the log is the one of this run
    for place, text in places.items():
        for secret in secrets:
            assert secret not in text, f"a credential appears in {place}"


def _gitxds_status(stack: RolloutStack) -> str:
    command = [
        sys.executable,
        "-m",
        "gitxds",
        "status",
        "--admin",
        f"http://127.0.0.1:{stack.serve.admin_port}",
    ]
    command += ["--token-file", str(stack.tmp / "admin-token"), "--output", "json"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert "credentials" in out.stdout, out.stdout + out.stderr
    return out.stdout + out.stderr


def _served(stack: RolloutStack) -> str | None:
    served = stack.admin("/status")["config"]["served"]
    return served["version"] if served else None


def _revert_of(stack: RolloutStack, commit: str) -> str | None:
    return next((entry for entry in stack.remote_log() if f"This reverts commit {commit}" in entry), None)
