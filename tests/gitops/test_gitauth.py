"""``--git-credentials``: what a secret store entry gives git, and what never comes out of it.

Real git runs here; remotes over HTTP and SSH that require credentials are in
e2e/test_rollout_git_credentials.py.
"""

from __future__ import annotations

import asyncio
import base64
import stat
from pathlib import Path

import pytest

from gitxds.errors import UsageError
from gitxds.gitops.gitauth import MAX_ENTRY_BYTES, GitCredentials
from gitxds.gitops.gitcmd import GitError, run_git_async
from gitxds.gitops.service import GitxdsService

from .helpers import options

URL = "https://git.example.test/team/config.git"
KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


def credentials(tmp_path: Path, value: str | bytes) -> GitCredentials:
    store = tmp_path / "secrets"
    store.mkdir(exist_ok=True)
    entry = store / "git"
    if isinstance(value, bytes):
        entry.write_bytes(value)
    else:
        entry.write_text(value)
    return GitCredentials(store, "git", URL)


def test_user_and_token_become_a_basic_header_for_the_remote_only(tmp_path: Path) -> None:
    with credentials(tmp_path, "bot:s3cret-token-1\n").auth() as auth:
        env = auth.environ({"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "a.b", "GIT_CONFIG_VALUE_0": "c"})
    encoded = base64.b64encode(b"bot:s3cret-token-1").decode()
    assert env["GIT_CONFIG_COUNT"] == "2"  # after the operator's own
    assert env["GIT_CONFIG_KEY_1"] == f"http.{URL}.extraHeader"
    assert env["GIT_CONFIG_VALUE_1"] == f"Authorization: Basic {encoded}"
    assert auth.redact(f"x {encoded} s3cret-token-1 y") == "x <redacted> <redacted> y"


def test_a_bare_token_is_a_bearer_header(tmp_path: Path) -> None:
    with credentials(tmp_path, "tok-abcdef123456").auth() as auth:
        assert auth.environ({})["GIT_CONFIG_VALUE_0"] == "Authorization: Bearer tok-abcdef123456"


def test_an_ssh_key_is_a_private_file_named_by_git_ssh_command_and_then_removed(tmp_path: Path) -> None:
    with credentials(tmp_path, KEY).auth() as auth:
        command = auth.environ({})["GIT_SSH_COMMAND"]
        key = Path(command.split("-i ", 1)[1].split()[0])
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
        assert key.read_text().strip() == KEY.strip()
        assert "IdentitiesOnly=yes" in command and "BEGIN" not in command
    assert not key.exists()


def test_a_folder_entry_gives_the_key_and_the_known_hosts_checked_strictly(tmp_path: Path) -> None:
    folder = tmp_path / "secrets" / "git"
    folder.mkdir(parents=True)
    (folder / "ssh-privatekey").write_text(KEY)
    (folder / "known_hosts").write_text("[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBy\n")
    with GitCredentials(tmp_path / "secrets", "git", URL).auth() as auth:
        command = auth.environ({})["GIT_SSH_COMMAND"]
    assert f"-o UserKnownHostsFile={folder / 'known_hosts'} -o StrictHostKeyChecking=yes" in command
    (folder / "ssh-privatekey").write_text("not-a-key-at-all")
    with (
        pytest.raises(GitError, match="not an SSH private key"),
        GitCredentials(folder.parent, "git", URL).auth(),
    ):
        pass


def test_a_failing_git_command_never_shows_the_credential(tmp_path: Path) -> None:
    with credentials(tmp_path, "bot:s3cret-token-1").auth() as auth:
        # The URL carries the token here only so that git's own message contains it.
        bad = f"{tmp_path}/missing-s3cret-token-1.git"
        with pytest.raises(GitError) as raised:
            asyncio.run(run_git_async(tmp_path, "ls-remote", bad, auth=auth))
    assert "s3cret-token-1" not in str(raised.value) and "<redacted>" in str(raised.value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"x" * (MAX_ENTRY_BYTES + 1), "over 16384 bytes"),
        (b"", "empty"),
        (b"line-one-secret\nline-two-secret\n", "one line of printable text"),
        (b"\xff\xfe-secret", "not UTF-8"),
    ],
)
def test_a_bad_entry_is_a_clear_error_without_its_value(tmp_path: Path, value: bytes, reason: str) -> None:
    with pytest.raises(GitError) as raised, credentials(tmp_path, value).auth():
        pass
    assert reason in str(raised.value) and "--git-credentials git" in str(raised.value)
    assert "secret" not in str(raised.value)


def test_a_missing_or_unreadable_entry_is_named(tmp_path: Path) -> None:
    store = tmp_path / "secrets"
    store.mkdir()
    with pytest.raises(GitError, match="no such entry"), GitCredentials(store, "git", URL).auth():
        pass
    (store / "git").mkdir()  # a folder entry is for SSH: its key is missing
    with (
        pytest.raises(GitError, match="no ssh-privatekey in the entry"),
        GitCredentials(store, "git", URL).auth(),
    ):
        pass
    (store / "git" / "ssh-privatekey").mkdir()  # unreadable as a key, even for root
    with pytest.raises(GitError, match="cannot read the entry"), GitCredentials(store, "git", URL).auth():
        pass


@pytest.mark.parametrize("name", ["", "../git", ".hidden", "a/b", " git"])
def test_the_name_is_an_entry_of_the_store(tmp_path: Path, name: str) -> None:
    with pytest.raises(UsageError, match="--git-credentials"):
        GitCredentials(tmp_path, name, URL)


def test_serve_refuses_credentials_without_a_secret_store_or_a_git_url(tmp_path: Path) -> None:
    for overrides in ({"git_url": str(tmp_path / "remote.git")}, {"secrets_dir": tmp_path}):
        with pytest.raises(UsageError, match="needs --git-url"):
            GitxdsService(options(tmp_path, git_credentials="git", checkout_dir=tmp_path / "c", **overrides))
