"""Secret values for ``ir.SecretRef``: resolved from the secret store, or redacted for rendering.

A TLS secret's value is PEM text holding the certificate chain followed by its private key (one file
in the secret store), so one name is all a listener needs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from envoy.config.core.v3.base_pb2 import DataSource
from envoy.extensions.transport_sockets.tls.v3.common_pb2 import TlsCertificate
from envoy.extensions.transport_sockets.tls.v3.secret_pb2 import Secret

from gitxds import ir
from gitxds.errors import GitxdsError

__all__ = ["REDACTED", "SecretValues", "UnknownSecretError", "secret_for", "split_certificate_and_key"]

REDACTED = "<redacted>"

_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----\s*", re.S)


class UnknownSecretError(GitxdsError):
    """The config names a secret the secret store does not hold."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f'no secret named "{name}" in the secret store')


@dataclass(frozen=True, slots=True)
class SecretValues:
    """Hashable secret values, so builders that take them stay memoizable.

    ``values is None`` means render mode: every secret reads as ``<redacted>``.
    """

    values: tuple[tuple[str, str], ...] | None = None

    @classmethod
    def of(cls, secrets: Mapping[str, str] | None) -> SecretValues:
        return cls(None if secrets is None else tuple(sorted(secrets.items())))

    def value_of(self, name: str) -> str:
        if self.values is None:
            return REDACTED
        for key, value in self.values:
            if key == name:
                return value
        raise UnknownSecretError(name)

    def resolve(self, value: ir.HeaderValue) -> str:
        return self.value_of(value.name) if isinstance(value, ir.SecretRef) else value


def split_certificate_and_key(pem: str) -> tuple[str, str]:
    """Split one PEM text into (certificate chain, private key); a redacted value stays redacted."""
    if pem == REDACTED:
        return REDACTED, REDACTED
    keys = _PRIVATE_KEY.findall(pem)
    chain = _PRIVATE_KEY.sub("", pem).strip() + "\n"
    return chain, "".join(keys).strip() + "\n"


def secret_for(name: str, secrets: SecretValues) -> Secret:
    """The SDS Secret holding a listener certificate named by ``tls.secretRef``."""
    chain, key = split_certificate_and_key(secrets.value_of(name))
    return Secret(
        name=name,
        tls_certificate=TlsCertificate(
            certificate_chain=DataSource(inline_string=chain),
            private_key=DataSource(inline_string=key),
        ),
    )
