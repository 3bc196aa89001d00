"""Text from outside (a proxy's node id, its NACK message) made safe to log and show.

Control characters are escaped (``\\n`` becomes the two characters ``\\`` ``n``), so such text can
never forge a log line, and long text is cut, so a hostile client cannot fill the disk or the status.
"""

from __future__ import annotations

__all__ = ["printable"]


def printable(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with every non-printable character escaped."""
    cut = text[:limit]
    escaped = cut if cut.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in cut)
    if len(text) > limit:
        return f"{escaped}... ({len(text) - limit} more characters)"
    return escaped
