"""What happens to Git after a rollout rolled back: a pushed revert commit, or a note saying why not.

With ``onFailure: revert`` and ``--git-url``, the commit that started the rollout is reverted in the
checkout and pushed to the branch with the credentials of ``--git-credentials`` (read from the secret
store, see :mod:`gitxds.gitops.gitauth`), its message carrying the evidence; the next fetch then
serves the revert, so Git says what is served. Anything that prevents the push (a watched directory,
no or wrong credentials, a remote that refuses) leaves a note in status instead, and nothing is
retried until Git changes.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from pathlib import Path

from gitxds import ir
from gitxds.gitops.gitauth import GitCredentials
from gitxds.gitops.gitcmd import GitError, run_git_async
from gitxds.gitops.gitsync import auth_of
from gitxds.rollout import RuleRollout

__all__ = ["push_revert", "revert_message", "still_declared_note"]

_AUTHOR = ("-c", "user.name=gitxds", "-c", "user.email=gitxds@localhost")
_BASE_REF = "refs/gitxds/revert-base"


def still_declared_note(rollout: RuleRollout, why: str) -> str:
    return f"rolled back; Git still declares {rollout.commit}: revert it ({why})"


def revert_message(rollout: RuleRollout, policy: ir.RolloutPolicy) -> str:
    lines = [
        f"Revert {rollout.commit[:12]}: rollout of {rollout.rule} failed",
        "",
        f"gitxds rolled {rollout.rule} back to its previous split under RolloutPolicy {policy.name}",
        f"({rollout.note}). Evidence:",
        "",
    ]
    lines += [f"- {evidence}" for evidence in rollout.evidence] or ["- aborted by an operator"]
    lines += ["", f"This reverts commit {rollout.commit}."]
    return "\n".join(lines) + "\n"


async def push_revert(
    checkout: Path,
    branch: str,
    rollout: RuleRollout,
    policy: ir.RolloutPolicy,
    logger: logging.Logger,
    *,
    credentials: GitCredentials | None = None,
) -> str:
    """Revert the rollout's commit on top of the branch tip and push it; returns the new commit.

    The revert is made in a temporary worktree: the served checkout only ever moves to fetched
    commits, so the watcher never sees a half-made revert. ``credentials`` (the secret store entry
    of ``--git-credentials``) are read for the fetch and again for the push.
    """
    # A ref of its own: the poll fetches concurrently and rewrites FETCH_HEAD.
    with auth_of(credentials) as auth:
        await run_git_async(
            checkout, "fetch", "--quiet", "origin", f"+refs/heads/{branch}:{_BASE_REF}", auth=auth
        )
    with tempfile.TemporaryDirectory(prefix="gitxds-revert-") as scratch:
        work = Path(scratch) / "work"
        await run_git_async(checkout, "worktree", "add", "--quiet", "--detach", str(work), _BASE_REF)
        try:
            await run_git_async(work, *_AUTHOR, "revert", "--no-commit", rollout.commit)
            await run_git_async(work, *_AUTHOR, "commit", "--quiet", "-m", revert_message(rollout, policy))
            pushed = await run_git_async(work, "rev-parse", "HEAD")
            with auth_of(credentials) as auth:
                await run_git_async(work, "push", "--quiet", "origin", f"HEAD:refs/heads/{branch}", auth=auth)
        finally:
            with contextlib.suppress(GitError):
                await run_git_async(checkout, "worktree", "remove", "--force", str(work))
    logger.warning(
        "pushed %s to %s: a revert of %s (rollout of %s rolled back)",
        pushed[:12],
        branch,
        rollout.commit[:12],
        rollout.rule,
    )
    return pushed
