"""``gitxds import istio FILE... --output DIR``: Istio networking YAML -> gitxds config files."""

from __future__ import annotations

import argparse
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
    import yaml

    try:
        return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{path} is not YAML: {exc}") from None
