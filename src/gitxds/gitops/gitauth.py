"""Git credentials from the secret store (``gitxds serve --git-credentials NAME``).

The entry ``NAME`` of ``--secrets-dir`` holds one of:

- ``USER:TOKEN`` (one line): HTTP Basic authentication, e.g. ``x-access-token:ghp_...``;
- ``TOKEN`` (one line, no colon): an ``Authorization: Bearer TOKEN`` header;
- an SSH private key (PEM / OpenSSH text): used through ``ssh -i`` for ``ssh://`` and ``host:path`` URLs;
- a folder ``NAME/`` with ``ssh-privatekey`` (the layout of a mounted Kubernetes ``ssh-auth`` Secret)
  and, optionally, ``known_hosts``: the remote's host keys, then checked strictly.

The entry is read again for every git command that talks to the remote (clone, fetch, the revert's
push), so a rotated token is used from the next command on. The secret goes to git through the
environment of that one command only: an ``http.<url>.extraHeader`` given as ``GIT_CONFIG_KEY_n`` /
``GIT_CONFIG_VALUE_n`` (sent only to the remote's URL), or ``GIT_SSH_COMMAND`` naming a key file of
mode 0600 in a private temporary directory, deleted when the command ends. It is never on a command
line, in the remote URL, in the checkout's ``.git/config``, in a log line, in status or in an error
(errors are scrubbed of every form of it).
"""

from __future__ import annotations

import base64
import os
import shlex
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gitxds.errors import UsageError
from gitxds.gitops.gitcmd import GitAuth, GitError

__all__ = ["MAX_ENTRY_BYTES", "GitCredentials"]

MAX_ENTRY_BYTES = 16 * 1024  # a token or an SSH key is far smaller
_KEY_MARKER = "PRIVATE KEY-----"
_SHORTEST_REDACTED = 6
SSH_KEY = "ssh-privatekey"  # in a folder entry, as Kubernetes names it
KNOWN_HOSTS = "known_hosts"  # a shorter password alone would blank out ordinary words in an error


class GitCredentials:
    """The secret store entry ``name`` as credentials for the remote ``url``."""

    def __init__(self, secrets_dir: Path, name: str, url: str) -> None:
        if not name or name.startswith(".") or "/" in name or name != name.strip():
            raise UsageError(f"--git-credentials {name!r}: name an entry of --secrets-dir (a file name)")
        self.path = secrets_dir / name
        self.name = name
        self.url = url

    @contextmanager
    def auth(self) -> Iterator[GitAuth]:
        """Read the entry now and give git what it needs for one command."""
        if self.path.is_dir():
            key = self._read(self.path / SSH_KEY)
            if _KEY_MARKER not in key:
                raise GitError(f"--git-credentials {self.name}: {SSH_KEY} is not an SSH private key")
            known_hosts = self.path / KNOWN_HOSTS
            with _ssh(key, known_hosts if known_hosts.is_file() else None) as auth:
                yield auth
            return
        value = self._read(self.path)
        if _KEY_MARKER in value:
            with _ssh(value, None) as auth:
                yield auth
            return
        yield self._http(value)

    def _read(self, path: Path) -> str:
        source = f"--git-credentials {self.name}"
        try:
            with path.open("rb") as entry:
                data = entry.read(MAX_ENTRY_BYTES + 1)
        except FileNotFoundError:
            what = "no such entry" if path == self.path else f"no {path.name} in the entry"
            raise GitError(f"{source}: the secret store has {what}") from None
        except OSError as exc:
            raise GitError(f"{source}: cannot read the entry ({exc.strerror})") from None
        if len(data) > MAX_ENTRY_BYTES:
            raise GitError(f"{source}: the entry is over {MAX_ENTRY_BYTES} bytes")
        try:
            value = data.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise GitError(f"{source}: the entry is not UTF-8 text") from None
        if not value:
            raise GitError(f"{source}: the entry is empty")
        if _KEY_MARKER not in value and not value.isprintable():
            raise GitError(f"{source}: a token is one line of printable text (or give an SSH private key)")
        return value

    def _http(self, token: str) -> GitAuth:
        if ":" in token:
            encoded = base64.b64encode(token.encode()).decode()
            header = f"Authorization: Basic {encoded}"
            password = token.partition(":")[2]
            secrets = (token, encoded, *((password,) if len(password) >= _SHORTEST_REDACTED else ()))
        else:
            header = f"Authorization: Bearer {token}"
            secrets = (token,)
        # http.<url>.*: the header goes to this remote only, never to another host.
        return GitAuth(config=((f"http.{self.url}.extraHeader", header),), secrets=secrets)


@contextmanager
def _ssh(key: str, known_hosts: Path | None) -> Iterator[GitAuth]:
    with _ssh_key_file(key) as key_file:
        command = f"ssh -i {shlex.quote(str(key_file))} -o IdentitiesOnly=yes -o BatchMode=yes"
        if known_hosts is not None:
            command += f" -o UserKnownHostsFile={shlex.quote(str(known_hosts))} -o StrictHostKeyChecking=yes"
        lines = tuple(line for line in key.splitlines() if len(line.strip()) >= 8)
        yield GitAuth(env={"GIT_SSH_COMMAND": command}, secrets=(key, *lines))


@contextmanager
def _ssh_key_file(key: str) -> Iterator[Path]:
    """The key in a file only this user can read, removed when the command is over."""
    with tempfile.TemporaryDirectory(prefix="gitxds-ssh-") as private:  # mode 0700
        path = Path(private) / "key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(key + "\n")
        yield path
