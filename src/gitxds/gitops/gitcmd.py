"""Thin wrapper around the ``git`` command: gitxds uses real git, never a reimplementation."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from pathlib import Path

from gitxds.errors import GitxdsError


class GitError(GitxdsError):
    """A git command failed; the message carries git's own stderr (credentials stripped)."""


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


async def run_git_async(cwd: Path, *args: str, timeout: float = 120.0) -> str:
    """Run git without blocking the event loop."""
    proc = await asyncio.create_subprocess_exec(
        "git",
        *args,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_git_env(),
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise GitError(f"git {args[0]} timed out after {timeout:.0f}s") from None
    if proc.returncode != 0:
        raise GitError(redact_url_credentials(f"git {args[0]} failed: {err.decode().strip()}"))
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
