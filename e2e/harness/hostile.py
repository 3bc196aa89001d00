"""Hostile config files, shared by the input-limit tests and ``bench.input_limits``.

``alias_bomb(levels)``: a valid-looking Backend whose unknown field ``spec.x`` is a YAML alias bomb
("billion laughs": each level is a list of 9 aliases of the level before, so ``levels`` levels expand
to 9**(levels + 1) strings). ``alias_bomb(5)`` (371 bytes) and ``alias_bomb(8)`` (488 bytes) are the
shapes of the 379- and 496-byte bombs of the security review.
``large_config(size)``: about ``size`` bytes of valid Backend documents in one file.
"""

from __future__ import annotations

BACKEND_HEAD = """\
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {name: NAME}
spec:
  endpoints: [{address: 127.0.0.1, port: 8000}]
"""


def alias_bomb(levels: int, name: str = "bomb") -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    lines = [BACKEND_HEAD.replace("NAME", name) + "  x:", "    a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]"]
    for level in range(1, levels + 1):
        aliases = ",".join([f"*{letters[level - 1]}"] * 9)
        lines.append(f"    {letters[level]}: &{letters[level]} [{aliases}]")
    return "\n".join(lines) + "\n"


def large_config(size: int) -> str:
    documents = []
    total = 0
    index = 0
    while total < size:
        document = BACKEND_HEAD.replace("NAME", f"svc-{index}") + "  connectTimeout: 1s\n"
        documents.append(document)
        total += len(document) + 4
        index += 1
    return "---\n".join(documents)
