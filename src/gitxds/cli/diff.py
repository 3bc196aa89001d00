"""``gitxds diff``: what a change does to the Envoy config, for pull-request review."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from gitxds.compile import compile_directory
from gitxds.errors import Severity, UsageError
from gitxds.gitops.gitcmd import GitError
from gitxds.gitops.pipeline import translate_all
from gitxds.gitops.resource_diff import ResourceChange, diff_all
from gitxds.gitops.revisions import config_at_revision


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "diff",
        help="show which Envoy resources a change adds, removes or modifies",
        description=(
            "Compile DIR at two Git revisions and compare the Envoy resources of every gateway, "
            "field by field. Exit 0: no change to any proxy; 1: changes; 2: the head config is "
            "invalid or an argument is wrong. In a merge-request pipeline: "
            "`gitxds diff --base origin/main --head HEAD config/`."
        ),
    )
    parser.add_argument("dir", type=Path, help="the config directory (inside a Git work tree)")
    parser.add_argument("--base", default="HEAD", help="revision to compare from (default: %(default)s)")
    parser.add_argument(
        "--head",
        default=None,
        help="revision to compare to (default: the work tree as it is, uncommitted edits included)",
    )
    parser.add_argument("--output", choices=("text", "json"), default="text")
    parser.set_defaults(handler=run)


def _compile_resources(config_dir: Path, label: str) -> dict[str, dict[str, list]]:  # type: ignore[type-arg]
    result = compile_directory(config_dir)
    errors = [d for d in result.diagnostics if d.severity is Severity.ERROR]
    if errors:
        for d in errors:
            print(f"{label}: {d}", file=sys.stderr)
        raise UsageError(f"the {label} config has {len(errors)} error(s); fix them before diffing")
    return translate_all(result.model, secrets=None)


def run(args: argparse.Namespace) -> int:
    if not args.dir.is_dir():
        raise UsageError(f"{args.dir} is not a directory")
    with tempfile.TemporaryDirectory(prefix="gitxds-diff-") as tmp:
        try:
            base_dir = config_at_revision(args.dir, args.base, Path(tmp) / "base")
            head_dir = config_at_revision(args.dir, args.head, Path(tmp) / "head") if args.head else args.dir
        except GitError as exc:
            raise UsageError(str(exc)) from None
        changes = diff_all(_compile_resources(base_dir, "base"), _compile_resources(head_dir, "head"))
    if args.output == "json":
        json.dump([_change_json(c) for c in changes], sys.stdout, indent=2)
        print()
    else:
        print(render_changes(changes))
    return 1 if changes else 0


def _change_json(change: ResourceChange) -> dict[str, str]:
    return {
        "gateway": change.gateway,
        "type": change.type_name,
        "name": change.name,
        "change": change.kind.value,
        "diff": change.unified_diff,
    }


_MARK = {"added": "+", "removed": "-", "modified": "~"}


def render_changes(changes: list[ResourceChange]) -> str:
    if not changes:
        return "no change to any Envoy resource"
    lines = [f"{len(changes)} Envoy resource(s) change:"]
    lines += [f"  {_MARK[c.kind]} {c.gateway} {c.type_name}/{c.name}" for c in changes]
    for change in changes:
        lines += ["", f"--- {change.gateway} {change.type_name}/{change.name} ({change.kind})"]
        lines.append(change.unified_diff)
    return "\n".join(lines)
