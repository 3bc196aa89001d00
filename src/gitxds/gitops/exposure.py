"""Which listening ports would hand secrets or control to anyone on the network.

xDS serves every gateway's private keys and credentials: beyond loopback it needs mutual TLS (each
Envoy proves who it is, and gets only its own gateway). The admin endpoint can trigger syncs and
shows the whole config: beyond loopback it needs a token. ``gitxds serve`` refuses either exposure
unless ``--insecure`` is given, and then logs a warning for each.
"""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback", "open_exposures"]


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a DNS name or a wildcard: assume it is reachable from elsewhere


def open_exposures(*, xds_address: str, mutual_tls: bool, admin_address: str, admin_token: bool) -> list[str]:
    """One sentence per port that is reachable beyond this host without its protection."""
    found = []
    xds_host = xds_address.rpartition(":")[0]
    if not mutual_tls and not is_loopback(xds_host):
        found.append(
            f"xDS on {xds_address} without mutual TLS: any client that connects can receive every "
            "gateway's certificates and credentials (use --tls-cert, --tls-key and --client-ca)"
        )
    admin_host = admin_address.rpartition(":")[0]
    if not admin_token and not is_loopback(admin_host):
        found.append(
            f"admin endpoint on {admin_address} without a token: anyone who reaches it can read the "
            "config and trigger syncs (use --admin-token-file or $GITXDS_ADMIN_TOKEN)"
        )
    return found
