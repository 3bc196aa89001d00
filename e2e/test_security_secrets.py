"""Secrets outside Git, through `gitxds serve --secrets-dir` and a real Envoy.

A Gateway listener `protocol: HTTPS, tls: {secretRef: edge-cert}` gets its certificate over SDS from
the secret store folder `edge-cert/tls.crt` + `tls.key`; replacing those files rotates the certificate
Envoy presents without restarting Envoy. An upstream credential (`requestHeaders.set` from a
`secretRef`) reaches the upstream. A secrets dir inside the config dir is refused.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ruamel.yaml import YAML

from harness import EnvoyProcess, UpstreamServer, free_port, get, wait_for
from harness.certs import CertificateAuthority, install_certificate
from harness.configs import backend_doc, document, route_doc, write_config
from harness.serve import ServeProcess

CREDENTIAL = "Bearer sk-upstream-credential-7f3a"


def _gateway(cluster: str, http_port: int, https_port: int) -> dict[str, Any]:
    listeners = [
        {"name": "http", "port": http_port, "address": "127.0.0.1"},
        {
            "name": "https",
            "port": https_port,
            "address": "127.0.0.1",
            "protocol": "HTTPS",
            "tls": {"secretRef": "edge-cert"},
        },
    ]
    return document("Gateway", "edge", {"proxies": {"cluster": cluster}, "listeners": listeners})


def presented_serial(port: int, ca: CertificateAuthority) -> int:
    """The serial number of the certificate Envoy presents on ``port`` (verified against ``ca``)."""
    context = ssl.create_default_context(cafile=str(ca.cert))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        certificate = tls.getpeercert()
    assert certificate is not None
    return int(str(certificate["serialNumber"]), 16)


def https_get(port: int, ca: CertificateAuthority, path: str) -> tuple[int, dict[str, Any]]:
    context = ssl.create_default_context(cafile=str(ca.cert))
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.fixture
def tls_stack(tmp_path: Path) -> Iterator[SimpleNamespace]:
    ca = CertificateAuthority(tmp_path / "ca")
    first, second = ca.issue("edge-a", serial=0xA1), ca.issue("edge-b", serial=0xB2)
    secrets_dir = tmp_path / "secrets"
    install_certificate(secrets_dir, "edge-cert", first)
    (secrets_dir / "provider-key").write_text(CREDENTIAL + "\n")
    api = UpstreamServer("api").start()
    http_port, https_port = free_port(), free_port()
    cluster = f"edge-tls-{https_port}"
    config_dir = tmp_path / "config"
    write_config(
        config_dir,
        [
            _gateway(cluster, http_port, https_port),
            backend_doc(
                "api", [api.port], requestHeaders={"set": {"authorization": {"secretRef": "provider-key"}}}
            ),
            route_doc("chat", [{"backends": [{"name": "api"}]}]),
        ],
    )
    serve = ServeProcess(config_dir, tmp_path, "--secrets-dir", str(secrets_dir))
    bootstrap = YAML(typ="safe").load(serve.bootstrap("envoy-tls", cluster))
    envoy = EnvoyProcess(bootstrap, tmp_path).start()
    envoy.wait_listening(https_port, timeout=10)
    yield SimpleNamespace(
        ca=ca, first=first, second=second, secrets_dir=secrets_dir, api=api, serve=serve, envoy=envoy,
        http_port=http_port, https_port=https_port,
    )  # fmt: skip
    envoy.stop()
    serve.stop()
    api.stop()


def test_replacing_the_certificate_files_rotates_the_certificate_without_a_restart(tls_stack):
    s = tls_stack
    assert presented_serial(s.https_port, s.ca) == s.first.serial
    status, body = https_get(s.https_port, s.ca, "/v1/chat")
    assert status == 200 and body["backend"] == "api"
    envoy_pid = s.envoy.pid

    install_certificate(s.secrets_dir, "edge-cert", s.second)

    wait_for(
        lambda: presented_serial(s.https_port, s.ca) == s.second.serial,
        15,
        message="Envoy presents the new certificate",
    )
    assert s.envoy.pid == envoy_pid and s.envoy.running  # no restart
    assert https_get(s.https_port, s.ca, "/v1/chat")[0] == 200
    served = s.serve.status()["config"]
    assert served["last_attempt"]["result"] == "served"
    assert "secrets changed" in s.serve.log_tail(200)


def test_an_upstream_credential_from_the_secret_store_reaches_the_upstream(tls_stack):
    response = get(tls_stack.http_port, "/v1/chat")
    assert response.status == 200
    assert response.json()["headers"]["authorization"] == CREDENTIAL


def test_a_secrets_dir_inside_the_config_dir_is_refused(tmp_path: Path):
    config_dir = tmp_path / "config"
    (config_dir / "secrets").mkdir(parents=True)
    write_config(config_dir, [route_doc("chat", [{"backends": [{"name": "api"}]}])])
    command = [sys.executable, "-m", "gitxds", "serve", str(config_dir), "--secrets-dir"]
    command += [str(config_dir / "secrets"), "--xds-address", f"127.0.0.1:{free_port()}"]
    command += ["--admin-address", f"127.0.0.1:{free_port()}"]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert completed.returncode == 2
    assert "is inside the config directory" in completed.stderr
