"""Test certificates made with the ``openssl`` command at run time (EC P-256, valid for one day).

``CertificateAuthority(directory, name)``: a self-signed CA (``.cert``, ``.key`` paths).
``ca.issue(name, serial=..., common_name="localhost", san=...)`` -> ``Issued(cert, key, serial)``: a
certificate signed by the CA for ``san`` (default ``localhost`` and ``127.0.0.1``; a client identity
is e.g. ``URI:spiffe://test/ns/edge/sa/edge-a``), usable by servers and clients alike.
Serials are given by the test, so a test can tell which certificate a server presented.
``install_certificate(secrets_dir, name, issued)``: the secret store's TLS folder ``name/tls.crt`` +
``name/tls.key``, each written by an atomic rename.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = {san}
"""
LOCALHOST_SAN = "DNS:localhost, IP:127.0.0.1"


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path
    serial: int


def _openssl(*args: str) -> None:
    completed = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30, check=False)
    if completed.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed: {completed.stderr}")


def _new_key(path: Path) -> None:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path))


class CertificateAuthority:
    def __init__(self, directory: Path, name: str = "test-ca") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.cert = directory / f"{name}.crt"
        self.key = directory / f"{name}.key"
        _new_key(self.key)
        _openssl(
            "req", "-x509", "-new", "-key", str(self.key), "-out", str(self.cert), "-days", "1",
            "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip

    def issue(
        self, name: str, *, serial: int, common_name: str = "localhost", san: str = LOCALHOST_SAN
    ) -> Issued:
        key = self.directory / f"{name}.key"
        request = self.directory / f"{name}.csr"
        cert = self.directory / f"{name}.crt"
        extensions = self.directory / f"{name}.ext"
        extensions.write_text(_EXTENSIONS.format(san=san))
        _new_key(key)
        _openssl("req", "-new", "-key", str(key), "-out", str(request), "-subj", f"/CN={common_name}")
        _openssl(
            "x509", "-req", "-in", str(request), "-CA", str(self.cert), "-CAkey", str(self.key),
            "-set_serial", str(serial), "-days", "1", "-out", str(cert), "-extfile", str(extensions),
        )  # fmt: skip
        return Issued(cert, key, serial)


def install_certificate(secrets_dir: Path, name: str, issued: Issued) -> None:
    """Write ``name/tls.key`` then ``name/tls.crt``, each by an atomic rename (as an operator would)."""
    folder = secrets_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    for source, target in ((issued.key, "tls.key"), (issued.cert, "tls.crt")):
        partial = folder / f"{target}.tmp"
        partial.write_bytes(source.read_bytes())
        os.replace(partial, folder / target)
