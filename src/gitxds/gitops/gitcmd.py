"""Thin wrapper around the ``git`` command: gitxds uses real git, never a reimplementation."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gitxds.errors import GitxdsError


class GitError(GitxdsError):
    """A git command failed; the message carries git's own stderr (credentials stripped)."""


@dataclass(frozen=True)
class GitAuth:
    """What one git command needs: git config and environment variables to add, and the texts to
    scrub from its errors."""

    config: tuple[tuple[str, str], ...] = ()  # given as GIT_CONFIG_KEY_n / GIT_CONFIG_VALUE_n
    env: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()

    def environ(self, base: Mapping[str, str]) -> dict[str, str]:
        env = {**base, **self.env}
        count = int(env.get("GIT_CONFIG_COUNT", "0") or 0)  # after any the operator set
        for key, value in self.config:
            env[f"GIT_CONFIG_KEY_{count}"] = key
            env[f"GIT_CONFIG_VALUE_{count}"] = value
            count += 1
        if self.config:
            env["GIT_CONFIG_COUNT"] = str(count)
        return env

    def redact(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "<redacted>")
        return text


NO_AUTH = GitAuth()


def redact_url_credentials(text: str) -> str:
    """``https://user:token@host/...`` -> ``https://<redacted>@host/...``: never in a log line."""
    return re.sub(r"(\w+://)[^/@\s]+@", r"\1<redacted>@", text)


def run_git(cwd: Path, *args: str, timeout: float = 60.0) -> str:
    """Run git synchronously and return its stdout, stripped."""
    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=_git_env(),
    )
    if proc.returncode != 0:
        raise GitError(redact_url_credentials(f"git {args[0]} failed: {proc.stderr.strip()}"))
    return proc.stdout.strip()


async def run_git_async(cwd: Path, *args: str, timeout: float = 120.0, auth: GitAuth = NO_AUTH) -> str:
    """Run git without blocking the event loop; ``auth`` reaches git through its environment only."""
    proc = await asyncio.create_subprocess_exec(
        "git",
        *args,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=auth.environ(_git_env()),
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise GitError(f"git {args[0]} timed out after {timeout:.0f}s") from None
    if proc.returncode != 0:
        message = f"git {args[0]} failed: {err.decode(errors='replace').strip()}"
        raise GitError(auth.redact(redact_url_credentials(message)))
    return out.decode().strip()


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"  # never hang waiting for a password
    # `git status` on each reload must not take the index lock: someone committing in the watched
    # work tree at that moment would fail with "index.lock exists".
    env["GIT_OPTIONAL_LOCKS"] = "0"
    env.setdefault("LC_ALL", "C")
    return env


def work_tree_root(path: Path) -> Path | None:
    """The top of the git work tree that holds ``path``, or None when it is not in one."""
    try:
        return Path(run_git(path, "rev-parse", "--show-toplevel"))
    except (GitError, FileNotFoundError, NotADirectoryError):
        return None
