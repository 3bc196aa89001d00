"""``gitxds status``: what every proxy runs, what it rejected, and what the server refused."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

from gitxds.errors import UsageError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "status",
        help="show the served commit, refused commits and every proxy's sync state",
        description=(
            "Read /status from a running `gitxds serve` and print, per proxy, the commit it runs and "
            "any config it rejected (drift). Exit 0 when every proxy is in sync, 1 when any drifted "
            "or the last commit was refused."
        ),
    )
    add_admin_arguments(parser)
    parser.set_defaults(handler=run)


def add_admin_arguments(parser: argparse.ArgumentParser) -> None:
    """--admin, --token-file and --output: how a command reaches a running gitxds serve."""
    parser.add_argument(
        "--admin",
        default=os.environ.get("GITXDS_ADMIN", "http://127.0.0.1:9900"),
        help="admin endpoint of gitxds serve (default: %(default)s, or $GITXDS_ADMIN)",
    )
    parser.add_argument(
        "--token-file",
        help="file holding the admin bearer token (or set $GITXDS_ADMIN_TOKEN)",
    )
    parser.add_argument("--output", choices=("table", "json"), default="table")


def admin_token(args: argparse.Namespace) -> str | None:
    if args.token_file:
        with open(args.token_file) as fh:
            return fh.read().strip()
    return os.environ.get("GITXDS_ADMIN_TOKEN")


def fetch_status(admin: str, token: str | None) -> dict[str, Any]:
    return fetch_json(admin, "/status", token)


def fetch_json(admin: str, path: str, token: str | None) -> dict[str, Any]:
    """GET ``path`` (with its query) from the admin endpoint, as JSON; unreachable: UsageError."""
    request = urllib.request.Request(admin.rstrip("/") + path)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            data: dict[str, Any] = json.load(response)
            return data
    except urllib.error.HTTPError as exc:
        raise UsageError(f"{admin} answered {exc.code}: {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise UsageError(f"cannot reach {admin}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    status = fetch_status(args.admin, admin_token(args))
    if args.output == "json":
        json.dump(status, sys.stdout, indent=2)
        print()
    else:
        print(render_table(status))
    return 0 if is_healthy(status) else 1


def is_healthy(status: dict[str, Any]) -> bool:
    config = status.get("config") or {}
    last = config.get("last_attempt") or {}
    proxies = status.get("proxies") or []
    return (
        last.get("result") != "rejected"
        and _current_failure(config) is None
        and all(p.get("in_sync") for p in proxies)
    )


def _current_failure(config: dict[str, Any]) -> dict[str, Any] | None:
    """The latest failed reload, unless a reload attempt came after it."""
    failure: dict[str, Any] | None = config.get("last_failure")
    last = config.get("last_attempt") or {}
    if failure is None or str(last.get("at", "")) > str(failure.get("at", "")):
        return None
    return failure


def _short(version: str | None) -> str:
    if not version:
        return "-"
    return version[:12] + ("-dirty" if version.endswith("-dirty") else "")


def render_table(status: dict[str, Any]) -> str:
    config = status.get("config") or {}
    served = config.get("served") or {}
    lines = [f"config dir: {config.get('config_dir', '-')}"]
    lines.append(f"serving:    {_short(served.get('version'))} since {served.get('at', '-')}")
    rejected = config.get("last_rejected")
    last = config.get("last_attempt") or {}
    if rejected and last.get("result") == "rejected":
        refused = _short(rejected["version"])
        lines.append(f"REFUSED:    {refused} at {rejected['at']} (still serving the above)")
        lines.extend(f"  {d['text']}" for d in rejected.get("diagnostics", []))
    failure = _current_failure(config)
    if failure is not None:
        lines.append(
            f"FAILED:     reload ({failure['trigger']}) at {failure['at']} while {failure['step']}, "
            f"{failure['reason']} (still serving the above)"
        )
        lines.append(f"  {failure['message']}")
    proxies = status.get("proxies") or []
    lines.append("")
    header = ("NODE", "CLUSTER", "GATEWAY", "VARIANT", "RUNS", "STATE")
    rows = [header]
    for proxy in proxies:
        state = "in sync" if proxy.get("in_sync") else "DRIFTED"
        rows.append(
            (
                proxy.get("node_id", "-"),
                proxy.get("node_cluster", "-"),
                proxy.get("gateway") or "(no gateway)",
                proxy.get("variant", "-"),
                _short(proxy.get("runs")),
                state,
            )
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
    lines.extend("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows)
    if not proxies:
        lines.append("(no proxies connected)")
    for proxy in proxies:
        for type_name, state in sorted((proxy.get("types") or {}).items()):
            if state.get("nacked"):
                lines.append(
                    f"  {proxy.get('node_id')} rejected {type_name} {_short(state['nacked'])}: "
                    f"{state.get('error', '')}"
                )
    return "\n".join(lines)
