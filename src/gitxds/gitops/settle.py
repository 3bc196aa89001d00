"""Holding back a read of the config directory that may have caught a writer halfway.

Git, git-sync and most editors replace a file in one step (a temporary file renamed over the old
one), but many tools write in place: they truncate the file, then write it, in one piece or several.
A reload between those steps reads an empty file or a prefix of the new one. The watcher's quiet
time makes that unlikely without ruling it out (a writer can pause longer than any quiet time on a
loaded machine), so each reload the watcher triggers is screened:

- **Torn reads.** A file whose stat signature (device, inode, size, mtime) moved while the
  directory was read was read during a write: the read is discarded and the directory read again
  at once, up to :data:`TORN_RETRIES` times (see ``Reconciler._read``).
- **Signs of a write in progress**, each against the last read that was taken: a file that had
  content is empty (truncated, not written yet); a file is gone (some tools, and ``git checkout``,
  delete a file and write it again); a changed file's size is a whole number of 4096-byte blocks
  (large writes are cut at page and buffer boundaries, and a prefix cut at a line end can be valid
  YAML); the config is refused while a file changed (a prefix seldom parses); a file still moved
  after the last retry. A read with such a sign is *held back*: neither served nor recorded as
  refused, logged at info and counted in ``gitxds_config_reads_held_total{reason}``. It is read
  again when the writer's next event arrives, or after :data:`GRACE_SECONDS` when none does.
- A read is taken as it is once the files held back have stayed the same for the grace period (a
  writer still at work restarts it, for at most :data:`MAX_HOLDS` grace periods in all): an intentional
  emptying, deletion or broken edit is served (or refused) a quarter of a second later than a good
  edit would be.

What this cannot catch: a writer that writes a file in pieces ending at line ends, pausing longer
than the quiet time between them, can have a valid prefix served until its next piece lands (whose
event reloads). Tools that write config for gitxds should write a temporary file and rename it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping

__all__ = ["GRACE_SECONDS", "MAX_HOLDS", "TORN_RETRIES", "Settle", "signs_of_a_write"]

GRACE_SECONDS = 0.25  # the default of ``gitxds serve --write-grace``
MAX_HOLDS = 8  # a writer that never stops holds changes back for at most this many grace periods
TORN_RETRIES = 3
_BLOCK = 4096  # page size, and a divisor of the buffer sizes writers flush in (4, 8, 64 KiB)

Files = Iterable[tuple[str, bytes]]
Sign = tuple[str, str]  # (reason label for the metric, what was seen for the log)


def signs_of_a_write(
    taken: Mapping[str, bytes], files: Mapping[str, bytes], *, refused: bool, torn: Iterable[str] = ()
) -> Sign | None:
    """The first sign that ``files`` were read while a writer was at work, or None (see the module)."""
    still_moving = next(iter(torn), None)
    if still_moving is not None:
        return "torn", f"{still_moving} kept changing while it was read"
    gone = sorted(taken.keys() - files.keys())
    if gone:
        return "gone", f"{gone[0]} is gone"
    changed = [relpath for relpath, content in files.items() if taken.get(relpath) != content]
    for relpath in changed:
        size = len(files[relpath])
        if size == 0 and taken.get(relpath):
            return "emptied", f"{relpath} became empty"
        if size and size % _BLOCK == 0:
            return "block_boundary", f"{relpath} ends on a {_BLOCK}-byte boundary"
    if refused and changed:
        return "refused", f"the config is refused right after {changed[0]} changed"
    return None


class Settle:
    """The last read taken, the read held back (if any), and the timer that reads it again."""

    def __init__(
        self,
        clock: Callable[[], float],
        read_again: Callable[[float], Awaitable[object]],
        grace: float = GRACE_SECONDS,
    ) -> None:
        self.grace = grace
        self._clock = clock
        self._read_again = read_again  # called with when the held change was detected
        self._taken: dict[str, bytes] | None = None  # None until a first read is taken: nothing to compare
        self._held: dict[str, bytes] | None = None  # the files of the read held back last
        self.held_since: float | None = None  # when the files were last seen to change during a hold
        self._first_held = 0.0
        self._held_detected = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[object] | None = None

    def screen(
        self, files: Files, detected: float, *, refused: bool, torn: Iterable[str] = ()
    ) -> Sign | None:
        """Why this read is held back (then it is read again later); None when it is to be taken (it
        is then the new baseline). Call from the event loop."""
        current = dict(files)
        sign = (
            None
            if self._taken is None
            else signs_of_a_write(self._taken, current, refused=refused, torn=torn)
        )
        now = self._clock()
        if sign is None:
            self.take(current.items())
            return None
        since = self.held_since
        if since is None:
            self._first_held, self._held_detected = now, detected
        if since is None or current != self._held:  # the writer is still at work: its grace restarts
            since = self.held_since = now
            self._held = current
        # (a timer may fire a hair early: never hold again for less than a millisecond)
        if now - since >= self.grace - 1e-3 or now - self._first_held >= self.grace * MAX_HOLDS:
            self.take(current.items())
            return None
        self._cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(self.remaining(), self._fire)
        return sign

    def take(self, files: Files) -> None:
        """A read taken as it is: the new baseline, and the end of any hold."""
        self._taken = dict(files)
        self._held = self.held_since = None
        self._cancel_timer()

    def remaining(self) -> float:
        """Seconds until the read being held back is taken as it is."""
        assert self.held_since is not None
        deadline = min(self.held_since + self.grace, self._first_held + self.grace * MAX_HOLDS)
        return max(0.0, deadline - self._clock())

    def close(self) -> None:
        self._cancel_timer()
        if self._task is not None:
            self._task.cancel()

    def _fire(self) -> None:
        self._timer = None
        self._task = asyncio.ensure_future(self._read_again(self._held_detected))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
