"""``gitxds bootstrap``: an Envoy bootstrap that takes its whole configuration from gitxds over ADS."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from envoy.config.core.v3.base_pb2 import TransportSocket

from gitxds.cli.render import render_text
from gitxds.errors import UsageError
from gitxds.translators.xds import dynamic_bootstrap
from gitxds.translators.xds.bootstrap import parse_host_port
from gitxds.translators.xds.documents import document_for
from gitxds.translators.xds.xds_tls import xds_client_tls_for

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
    tls = parser.add_argument_group(
        "TLS to gitxds (pair with `gitxds serve --tls-cert --tls-key --client-ca`)"
    )
    tls.add_argument("--ca", metavar="FILE", help="PEM CA that signed gitxds's certificate: turns TLS on")
    tls.add_argument("--tls-cert", metavar="FILE", help="PEM client certificate Envoy presents (mutual TLS)")
    tls.add_argument("--tls-key", metavar="FILE", help="PEM private key of --tls-cert")
    tls.add_argument(
        "--server-name",
        metavar="NAME",
        help="DNS or IP name gitxds's certificate must carry (default: the host of --xds-address)",
    )
    parser.add_argument("--output", choices=("yaml", "json"), default="yaml", help="output format")
    parser.set_defaults(handler=run)


def _xds_tls(args: argparse.Namespace) -> TransportSocket | None:
    """File paths go into the bootstrap as they are: Envoy reads them on its own host."""
    if (args.tls_cert is None) != (args.tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together")
    if args.ca is None:
        if args.tls_cert is not None or args.server_name is not None:
            raise UsageError("--tls-cert and --server-name need --ca (to verify gitxds's certificate)")
        return None
    server_name = args.server_name or parse_host_port(args.xds_address)[0]
    return xds_client_tls_for(
        ca_file=args.ca, server_name=server_name, cert_file=args.tls_cert, key_file=args.tls_key
    )


def run(args: argparse.Namespace) -> int:
    bootstrap = dynamic_bootstrap(
        xds_address=args.xds_address,
        node_id=args.node_id,
        node_cluster=args.node_cluster,
        admin_port=args.admin_port,
        admin_address=args.admin_address,
        delta=args.delta,
        xds_tls=_xds_tls(args),
    )
    sys.stdout.write(render_text(document_for(bootstrap), args.output))
    return 0
