"""``gitxds rollout status|pause|resume|promote|abort``: steer rollouts through the admin endpoint."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from gitxds.cli.status import add_admin_arguments, admin_token
from gitxds.errors import UsageError

ACTIONS = ("status", "pause", "resume", "promote", "abort")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "rollout",
        help="show or steer rollouts (status, pause, resume, promote, abort)",
        description=(
            "Talk to a running `gitxds serve`. status: every rollout, its step and its evidence. "
            "pause: hold the step (analysis still runs). resume: go on. promote: serve the new split "
            "now. abort: serve the old split now (and, with onFailure: revert, push a revert)."
        ),
    )
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("--rule", help="the rule, as ROUTE/RULE (default: every active rollout)")
    add_admin_arguments(parser)
    parser.set_defaults(handler=run)


def _call(admin: str, path: str, token: str | None, *, post: bool) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(admin.rstrip("/") + path, method="POST" if post else "GET")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.load(exc)
        except ValueError:
            raise UsageError(f"{admin} answered {exc.code}: {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise UsageError(f"cannot reach {admin}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    token = admin_token(args)
    if args.action == "status":
        code, body = _call(args.admin, "/rollouts", token, post=False)
    else:
        query = f"?{urllib.parse.urlencode({'rule': args.rule})}" if args.rule else ""
        code, body = _call(args.admin, f"/rollouts/{args.action}{query}", token, post=True)
    if args.output == "json" or code != 200:
        json.dump(body, sys.stdout, indent=2)
        print()
    else:
        print(render(body))
    return 0 if code == 200 else 1


def render(body: dict[str, Any]) -> str:
    rollouts = body.get("rollouts") if "result" in body else body.get("current")
    lines = [f"{body['result']}:"] if "result" in body else []
    for rollout in rollouts or []:
        lines.append(
            f"{rollout['rule']} ({rollout['commit'][:12]}): {rollout.get('summary', rollout['phase'])}"
        )
        lines.extend(f"  {_evidence(e)}" for e in rollout.get("evidence", []))
    for rollout in body.get("ended") or []:
        lines.append(
            f"ended {rollout['rule']} ({rollout['commit'][:12]}): {rollout.get('summary', rollout['phase'])}"
        )
    return "\n".join(lines) or "no rollouts"


def _evidence(e: dict[str, Any]) -> str:
    verdict = "ok" if e["held"] else "FAILED"
    unit = e["unit"]
    measured = f"{e['value']:.4g}{unit} (threshold {e['threshold']:g}{unit}, {e['requests']} requests)"
    return f"{e['backend']} {e['metric']} {measured}: {verdict}"
