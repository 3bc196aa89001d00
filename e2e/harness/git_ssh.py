"""A Git remote over SSH: an SSH server (asyncssh) on 127.0.0.1 that runs real ``git-upload-pack`` /
``git-receive-pack`` for clients holding the one authorized key.

``GitSshServer(tmp).start()`` makes a host key and a client key; ``url(path)`` is the
``ssh://git@127.0.0.1:PORT/...`` URL of a bare repository; ``client_key`` (OpenSSH private key text)
and ``known_hosts`` (a line for this server) are what a client needs. ``commands`` keeps each
command run (``upload-pack`` / ``receive-pack``) with its exit status.
"""

from __future__ import annotations

import asyncio
import shlex
import threading
from pathlib import Path
from typing import Any

import asyncssh

__all__ = ["GitSshServer"]

ALLOWED = ("git-upload-pack", "git-receive-pack")


class GitSshServer:
    def __init__(self, tmp: Path) -> None:
        host_key = asyncssh.generate_private_key("ssh-ed25519")
        client = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key = client.export_private_key().decode()
        self._host_key = host_key
        self._authorized = asyncssh.import_authorized_keys(client.export_public_key().decode())
        self._host_public = host_key.export_public_key().decode().strip()
        self.tmp = tmp
        self.commands: list[tuple[str, int]] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: Any = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def known_hosts(self) -> str:
        return f"[127.0.0.1]:{self.port} {self._host_public}\n"

    def url(self, path: Path) -> str:
        return f"ssh://git@127.0.0.1:{self.port}{path}"

    def start(self) -> GitSshServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        async def close() -> None:
            self._server.close()
            await self._server.wait_closed()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _listen(self) -> None:
        self._server = await asyncssh.create_server(
            asyncssh.SSHServer,
            "127.0.0.1",
            0,
            server_host_keys=[self._host_key],
            authorized_client_keys=self._authorized,
            process_factory=self._run,
            encoding=None,
            allow_scp=False,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _run(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        argv = shlex.split(process.command or "")
        if len(argv) != 2 or argv[0] not in ALLOWED:
            process.stderr.write(b"only git-upload-pack and git-receive-pack are served\n")
            process.exit(1)
            return
        git = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        await process.redirect(stdin=git.stdin, stdout=git.stdout, stderr=git.stderr)
        status = await git.wait()
        self.commands.append((argv[0].removeprefix("git-"), status))
        process.exit(status)
        await process.wait_closed()
