"""TLS for the xDS server: the server's certificate and, with a client CA, mutual TLS.

With ``client_ca`` every Envoy must present a certificate signed by that CA; connections without one
are refused during the TLS handshake, before any configuration is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from gitxds.errors import UsageError

__all__ = ["XdsServerTls"]


@dataclass(frozen=True, slots=True)
class XdsServerTls:
    cert: Path  # PEM certificate chain the server presents
    key: Path  # its PEM private key
    client_ca: Path | None = None  # PEM CA bundle; set: client certificates are required

    def credentials(self) -> grpc.ServerCredentials:
        """gRPC server credentials read from the files now (a missing file is a usage error)."""
        try:
            chain, key = self.cert.read_bytes(), self.key.read_bytes()
            client_ca = self.client_ca.read_bytes() if self.client_ca is not None else None
        except OSError as exc:
            raise UsageError(f"cannot read an xDS TLS file: {exc.filename}: {exc.strerror}") from None
        return grpc.ssl_server_credentials(
            [(key, chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
        )
