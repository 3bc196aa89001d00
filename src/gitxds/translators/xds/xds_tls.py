"""TLS from an Envoy to gitxds's xDS port: verify the server, optionally present a client certificate."""

from __future__ import annotations

import ipaddress

from envoy.config.core.v3.base_pb2 import DataSource, TransportSocket
from envoy.extensions.transport_sockets.tls.v3.common_pb2 import (
    CertificateValidationContext,
    SubjectAltNameMatcher,
    TlsCertificate,
)
from envoy.extensions.transport_sockets.tls.v3.tls_pb2 import CommonTlsContext, UpstreamTlsContext
from envoy.type.matcher.v3.string_pb2 import StringMatcher

from gitxds.translators.xds._proto import packed

__all__ = ["xds_client_tls_for"]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _server_name_matcher(server_name: str) -> SubjectAltNameMatcher:
    san_type = SubjectAltNameMatcher.IP_ADDRESS if _is_ip(server_name) else SubjectAltNameMatcher.DNS
    return SubjectAltNameMatcher(san_type=san_type, matcher=StringMatcher(exact=server_name))


def xds_client_tls_for(
    *, ca_file: str, server_name: str, cert_file: str | None = None, key_file: str | None = None
) -> TransportSocket:
    """The xDS cluster's transport socket: the server's certificate must chain to ``ca_file`` and name
    ``server_name`` (a DNS or IP subject alternative name); with ``cert_file`` and ``key_file`` Envoy
    presents its own certificate (mutual TLS). Files are read by Envoy, on its host."""
    context = CommonTlsContext(
        alpn_protocols=["h2"],
        validation_context=CertificateValidationContext(
            trusted_ca=DataSource(filename=ca_file),
            match_typed_subject_alt_names=[_server_name_matcher(server_name)],
        ),
    )
    if cert_file is not None and key_file is not None:
        context.tls_certificates.append(
            TlsCertificate(
                certificate_chain=DataSource(filename=cert_file), private_key=DataSource(filename=key_file)
            )
        )
    tls = UpstreamTlsContext(common_tls_context=context)
    if not _is_ip(server_name):
        tls.sni = server_name
    return TransportSocket(name="envoy.transport_sockets.tls", typed_config=packed(tls))
