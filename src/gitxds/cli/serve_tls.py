"""``gitxds serve`` options for TLS on the xDS port (mutual TLS with ``--client-ca``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gitxds.errors import UsageError
from gitxds.gitops.xds_tls import XdsServerTls

__all__ = ["add_xds_tls_arguments", "xds_tls_from"]


def add_xds_tls_arguments(parser: Any) -> None:
    group = parser.add_argument_group(
        "xDS TLS (pair with `gitxds bootstrap --tls-cert --tls-key --ca` for each Envoy)"
    )
    group.add_argument("--tls-cert", type=Path, help="PEM certificate chain the xDS port presents")
    group.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    group.add_argument(
        "--client-ca",
        type=Path,
        help="PEM CA bundle: every Envoy must present a certificate it signed (mutual TLS)",
    )


def xds_tls_from(args: argparse.Namespace) -> XdsServerTls | None:
    cert, key, client_ca = args.tls_cert, args.tls_key, args.client_ca
    for option, path in (("--tls-cert", cert), ("--tls-key", key), ("--client-ca", client_ca)):
        if path is not None and not path.is_file():
            raise UsageError(f"{option} {path} is not a file")
    if cert is None and key is None:
        if client_ca is not None:
            raise UsageError("--client-ca needs --tls-cert and --tls-key (the server's own certificate)")
        return None
    if cert is None or key is None:
        raise UsageError("--tls-cert and --tls-key go together")
    return XdsServerTls(cert=cert, key=key, client_ca=client_ca)
