"""``gitxds export TARGET ...``: render a config directory for another system.

Each target is a sub-command registered by a function in ``_TARGETS``; add one there for a new target.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gitxds.errors import Severity, UsageError

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "export", help="render a config directory for another system", description=__doc__
    )
    targets = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    for register_target in _TARGETS:
        register_target(targets)


def _register_istio(targets: Any) -> None:
    parser = targets.add_parser(
        "istio",
        help="Istio Gateway / VirtualService / DestinationRule / ServiceEntry / AuthorizationPolicy YAML",
        description="Render DIR as Istio resources. Findings (what Istio cannot express) go to stderr. "
        "Exit 0 when the export is faithful, 1 on invalid config, error findings, or warnings with "
        "--strict, 2 on usage errors.",
    )
    parser.add_argument("directory", metavar="DIR", type=Path, help="gitxds config directory")
    parser.add_argument(
        "--namespace", default="default", help="namespace of every document (default: default)"
    )
    parser.add_argument("--output", "-o", type=Path, help="write the YAML here instead of stdout")
    parser.add_argument("--strict", action="store_true", help="treat warnings as errors (exit 1)")
    parser.add_argument(
        "--gateway-selector",
        action="append",
        metavar="KEY=VALUE",
        help="label of the Istio gateway pods (repeatable; default istio=ingressgateway)",
    )
    parser.set_defaults(handler=_export_istio)


def _export_istio(args: argparse.Namespace) -> int:
    from gitxds.compile import compile_directory
    from gitxds.translators.istio import export
    from gitxds.translators.istio.render import render_yaml

    if not args.directory.is_dir():
        raise UsageError(f"{args.directory} is not a directory")
    selector = _parse_selector(args.gateway_selector)
    compiled = compile_directory(args.directory)
    for diagnostic in compiled.diagnostics:
        print(diagnostic, file=sys.stderr)
    if any(d.severity is Severity.ERROR for d in compiled.diagnostics):
        print("gitxds export istio: the config is invalid; nothing exported", file=sys.stderr)
        return 1
    result = export(compiled.model, namespace=args.namespace, gateway_selector=selector)
    text = render_yaml(result)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
    for finding in result.findings:
        print(finding, file=sys.stderr)
    failing = {Severity.ERROR, Severity.WARNING} if args.strict else {Severity.ERROR}
    return 1 if any(f.severity in failing for f in result.findings) else 0


def _parse_selector(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    selector = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or not value:
            raise UsageError(f"--gateway-selector {pair!r}: write KEY=VALUE, e.g. istio=ingressgateway")
        selector[key] = value
    return selector


def _register_ratelimit(targets: Any) -> None:
    parser = targets.add_parser(
        "ratelimit",
        help="configuration of the global rate limit service (envoyproxy/ratelimit YAML)",
        description="Render the limits of every `mode: global` RateLimitPolicy in DIR as the rate limit "
        "service's configuration: one document per domain, matching the descriptors Envoy sends. "
        "Exit 0 on success, 1 on invalid config or policies that disagree within a domain, 2 on "
        "usage errors.",
    )
    parser.add_argument("directory", metavar="DIR", type=Path, help="gitxds config directory")
    parser.add_argument(
        "--output-dir", type=Path, help="write one file per domain, DOMAIN.yaml, here instead of stdout"
    )
    parser.set_defaults(handler=_export_ratelimit)


def _export_ratelimit(args: argparse.Namespace) -> int:
    from gitxds.cli.export_ratelimit import export_ratelimit

    return export_ratelimit(args.directory, args.output_dir)


_TARGETS: tuple[Callable[[Any], None], ...] = (_register_istio, _register_ratelimit)
