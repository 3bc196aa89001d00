"""``gitxds render DIR``: the Envoy resources (or a static bootstrap) gitxds would serve a gateway."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from google.protobuf.message import Message

from gitxds import ir
from gitxds.compile import compile_directory
from gitxds.errors import Severity, UsageError
from gitxds.translators.xds import resource_documents, static_bootstrap, translate_gateway
from gitxds.translators.xds.documents import document_for
from gitxds.yamltext import yaml_text

__all__ = ["register", "render_text", "run"]

DESCRIPTION = """\
Compile the config directory DIR and print the Envoy v3 resources gitxds serves to the proxies of one
gateway: listeners, routes, clusters, endpoints and secrets, each list sorted by name (protobuf field
names, typed configs with their @type). Secret values are always printed as <redacted>.

With --static-bootstrap, print instead a complete Envoy bootstrap with the same resources inlined
(EDS clusters become STATIC), which `envoy --mode validate -c FILE` can check and Envoy can run
without gitxds.

Problems in DIR go to stderr, one per line, and the exit status is 1; nothing is printed on stdout.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "render",
        help="print the Envoy resources (or a static bootstrap) for one gateway",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("directory", metavar="DIR", type=Path, help="the config directory")
    parser.add_argument(
        "--gateway", metavar="NAME", help="the Gateway to render (default: the only one in DIR)"
    )
    parser.add_argument("--output", choices=("yaml", "json"), default="yaml", help="output format")
    parser.add_argument(
        "--static-bootstrap",
        action="store_true",
        help="print a complete static Envoy bootstrap instead of the resources by type",
    )
    parser.set_defaults(handler=run)


def render_text(data: Any, output: str) -> str:
    if output == "json":
        return json.dumps(data, indent=2) + "\n"
    return yaml_text(data)


def _chosen_gateway(model: ir.Model, requested: str | None) -> str:
    names = [gateway.name for gateway in model.gateways]
    if requested is None and len(names) == 1:
        return names[0]
    if requested in names:
        return requested
    known = ", ".join(names) or "none"
    if requested is None:
        raise UsageError(f"choose a gateway with --gateway (known: {known})")
    raise UsageError(f'no Gateway named "{requested}" (known: {known})')


def run(args: argparse.Namespace) -> int:
    directory: Path = args.directory
    if not directory.is_dir():
        raise UsageError(f"{directory} is not a directory")
    result = compile_directory(directory)
    for diagnostic in result.diagnostics:
        print(diagnostic, file=sys.stderr)
    if any(d.severity is Severity.ERROR for d in result.diagnostics):
        return 1
    gateway = _chosen_gateway(result.model, args.gateway)
    data: Any
    if args.static_bootstrap:
        bootstrap: Message = static_bootstrap(result.model, gateway)
        data = document_for(bootstrap)
    else:
        data = resource_documents(translate_gateway(result.model, gateway))
    sys.stdout.write(render_text(data, args.output))
    return 0
