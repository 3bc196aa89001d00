"""The ``gitxds`` command: argument parsing and wiring only.

Each sub-command lives in its own module with ``register(subparsers)``, which adds a parser whose
``handler`` default takes the parsed arguments and returns the exit code (0 ok, 1 failed, 2 usage).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from gitxds import __version__
from gitxds.errors import UsageError

# Module names under gitxds.cli, in the order --help lists them.
COMMANDS: tuple[str, ...] = (
    "validate",
    "render",
    "bootstrap",
    "serve",
    "status",
    "rollout",
    "usage",
    "diff",
    "export",
    "import_istio",
    "schema",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gitxds",
        description="GitOps control plane for Envoy: YAML in Git, compiled to xDS and served over gRPC.",
    )
    parser.add_argument("--version", action="version", version=f"gitxds {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"gitxds.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except UsageError as exc:
        print(f"gitxds {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
