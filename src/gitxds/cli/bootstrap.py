"""``gitxds bootstrap``: an Envoy bootstrap that takes its whole configuration from gitxds over ADS."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gitxds.cli.render import render_text
from gitxds.translators.xds import dynamic_bootstrap
from gitxds.translators.xds.documents import document_for

__all__ = ["register", "run"]

DESCRIPTION = """\
Print an Envoy bootstrap that connects to gitxds at --xds-address and receives every listener,
route, cluster, endpoint and certificate over one aggregated (ADS) gRPC stream, v3 API. Envoy
identifies itself with --node-id and --node-cluster; a Gateway whose `proxies` selects that
cluster (or node id) configures it. --delta uses incremental xDS instead of state of the world.

  gitxds bootstrap --xds-address gitxds:18000 --node-id edge-1 --node-cluster edge > envoy.yaml
  envoy -c envoy.yaml
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bootstrap",
        help="print an Envoy bootstrap that takes its configuration from gitxds",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--xds-address", required=True, metavar="HOST:PORT", help="gitxds's gRPC address")
    parser.add_argument("--node-id", required=True, metavar="ID", help="this Envoy's node.id (unique)")
    parser.add_argument(
        "--node-cluster", required=True, metavar="CLUSTER", help="node.cluster: selects the Gateway"
    )
    parser.add_argument("--admin-port", type=int, default=9901, metavar="N", help="Envoy admin port")
    parser.add_argument(
        "--admin-address",
        default="127.0.0.1",
        metavar="ADDR",
        help="Envoy admin address (default: local only)",
    )
    parser.add_argument("--delta", action="store_true", help="use incremental (delta) xDS")
    parser.add_argument("--output", choices=("yaml", "json"), default="yaml", help="output format")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    bootstrap = dynamic_bootstrap(
        xds_address=args.xds_address,
        node_id=args.node_id,
        node_cluster=args.node_cluster,
        admin_port=args.admin_port,
        admin_address=args.admin_address,
        delta=args.delta,
    )
    sys.stdout.write(render_text(document_for(bootstrap), args.output))
    return 0
