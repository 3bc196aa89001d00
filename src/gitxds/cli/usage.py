"""``gitxds usage``: tokens and cost per key (hashed), backend, rule, model and tier."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from gitxds.cli.status import add_admin_arguments, admin_token, fetch_json


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "usage",
        help="show token usage and cost per key, backend, rule, model and tier",
        description=(
            "Read /usage from a running `gitxds serve`: the top keys by tokens over a window (keys shown "
            "hashed, never whole) and the totals since gitxds started per gateway, rule, backend, model "
            "and tier, from the access logs every Envoy streams to gitxds. Requests answered without "
            "usage are counted as unknown, never as zero tokens."
        ),
    )
    add_admin_arguments(parser)
    parser.add_argument("--window", type=int, default=3600, help="seconds of per-key history, 60-3600")
    parser.add_argument("--top", type=int, default=20, help="how many keys to list (%(default)s)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    usage = fetch_json(args.admin, f"/usage?window={args.window}&top={args.top}", admin_token(args))
    if args.output == "json":
        json.dump(usage, sys.stdout, indent=2)
        print()
    else:
        print(render_table(usage))
    return 0


_COUNTS = ("requests", "unknown_usage", "input_tokens", "output_tokens", "total_tokens", "cost")


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[str]:
    cells = [header, *((str(c) for c in row) for row in rows)]
    grid = [tuple(row) for row in cells]
    widths = [max(len(row[i]) for row in grid) for i in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in grid]


def render_table(usage: dict[str, Any]) -> str:
    lines = [f"access-log entries received: {usage.get('received', 0)}", ""]
    lines.append(f"top keys over the last {usage.get('window_seconds', 0)} s (hashed):")
    keys = usage.get("top_keys") or []
    lines += _table(
        ("KEY", *(c.upper() for c in _COUNTS)), [(k["key"], *(k[c] for c in _COUNTS)) for k in keys]
    )
    lines += ["", "totals since gitxds started:"]
    dims = ("gateway", "rule", "backend", "model", "tier")
    totals = usage.get("totals") or []
    rows = [(*(t[d] or "-" for d in dims), *(t[c] for c in _COUNTS)) for t in totals]
    lines += _table((*(d.upper() for d in dims), *(c.upper() for c in _COUNTS)), rows)
    return "\n".join(lines)
