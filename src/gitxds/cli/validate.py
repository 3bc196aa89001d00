"""``gitxds validate DIR``: check a config directory and print every problem with file and line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from gitxds.compile import CompileResult, compile_loaded
from gitxds.config import load_directory
from gitxds.errors import Diagnostic, Severity, UsageError

__all__ = ["register", "run"]

DESCRIPTION = """\
Load every *.yaml / *.yml file under DIR (hidden files and folders skipped), check it and compile it
the way `gitxds serve` would, then print every problem found, one per line:

  routes/chat.yaml:14 spec.rules[0].backends[1].name: UnknownBackend: no Backend named "chat-v3" ...

followed by a summary line. Exit status: 0 when the directory is valid, 1 when it has errors,
2 when DIR does not exist or is not a directory.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check a config directory and report every problem with file and line",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("directory", metavar="DIR", type=Path, help="the config directory to check")
    parser.add_argument(
        "--output",
        choices=("text", "json"),
        default="text",
        help="text (default): one line per problem and a summary; json: a list of problem objects",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    directory: Path = args.directory
    if not directory.is_dir():
        raise UsageError(f"{directory} is not a directory")
    loaded = load_directory(directory)
    result = compile_loaded(loaded)
    if args.output == "json":
        print(json.dumps([d.to_json() for d in result.diagnostics], indent=2))
    else:
        for diagnostic in result.diagnostics:
            print(diagnostic)
        print(_summary(result, len(loaded.files)))
    return 1 if _errors(result) else 0


def _errors(result: CompileResult) -> list[Diagnostic]:
    return [d for d in result.diagnostics if d.severity is Severity.ERROR]


def _summary(result: CompileResult, file_count: int) -> str:
    errors = _errors(result)
    if errors:
        files = len({d.file for d in errors})
        return f"{_plural(len(errors), 'error')} in {_plural(files, 'file')}"
    model = result.model
    objects = sum(
        len(group)
        for group in (
            model.gateways,
            model.backends,
            model.routes,
            model.rate_limit_policies,
            model.auth_policies,
        )
    )
    return f"ok: {_plural(objects, 'object')} in {_plural(file_count, 'file')}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
