"""``gitxds import istio FILE... --output DIR``: Istio networking YAML -> gitxds config files."""

from __future__ import annotations

import argparse
import os
import stat
import sys
from pathlib import Path
from typing import Any

from gitxds.errors import Severity, UsageError

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("import", help="convert another system's config into gitxds config")
    sources = parser.add_subparsers(dest="source", metavar="SOURCE", required=True)
    istio = sources.add_parser(
        "istio",
        help="VirtualService / DestinationRule / ServiceEntry YAML",
        description="Convert Istio YAML into gitxds config files (backends.yaml, routes.yaml) in DIR. "
        "Objects with fields gitxds cannot express are refused, with a finding per field on stderr. "
        "Exit 0 when everything imported, 1 when something was refused (or warned, with --strict), "
        "2 on usage errors.",
    )
    istio.add_argument("files", metavar="FILE", nargs="+", type=Path, help="Istio YAML files")
    istio.add_argument("--output", "-o", type=Path, required=True, metavar="DIR", help="directory to write")
    istio.add_argument("--namespace", default="default", help="namespace of objects that name none")
    istio.add_argument("--gateway", help="gitxds Gateway for VirtualServices bound only to the mesh")
    istio.add_argument("--strict", action="store_true", help="treat warnings as errors (exit 1)")
    istio.set_defaults(handler=_import_istio)


def _import_istio(args: argparse.Namespace) -> int:
    from gitxds.config import load_directory
    from gitxds.importers.istio import SourceDocument, import_istio, render_files

    sources = [SourceDocument(str(path), doc) for path in args.files for doc in _read(path)]
    result = import_istio(sources, namespace=args.namespace, gateway=args.gateway)
    args.output.mkdir(parents=True, exist_ok=True)
    for name, text in render_files(result.documents, [str(p) for p in args.files]).items():
        (args.output / name).write_text(text)
    for finding in result.findings:
        print(finding, file=sys.stderr)
    diagnostics = load_directory(args.output).diagnostics
    for diagnostic in diagnostics:
        print(diagnostic, file=sys.stderr)
    failing = {Severity.ERROR, Severity.WARNING} if args.strict else {Severity.ERROR}
    return 1 if diagnostics or any(f.severity in failing for f in result.findings) else 0


def _read(path: Path) -> list[Any]:
    """An Istio file's documents, read under the config files' limits: a regular file of at most
    ``max_total_bytes``, opened without blocking, parsed with the alias and nesting budgets."""
    from gitxds.config import DEFAULT_LIMITS
    from gitxds.config.yamlread import read_documents

    limit = DEFAULT_LIMITS.max_total_bytes
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise UsageError(f"{path} is not a regular file; only regular files are read")
            content = handle.read(limit + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    if len(content) > limit:
        raise UsageError(f"{path} has more than {limit} bytes; split it into several files")
    documents, problems = read_documents(content.decode("utf-8", errors="replace"))
    if problems:
        first = problems[0]
        raise UsageError(f"{path}:{first.line}: {first.reason.value}: {first.message}")
    return [document.data for document in documents if document.data is not None]
