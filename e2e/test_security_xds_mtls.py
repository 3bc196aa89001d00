"""Mutual TLS on the xDS port: `gitxds serve --tls-cert --tls-key --client-ca` with Envoys bootstrapped
by `gitxds bootstrap --ca --tls-cert --tls-key`.

An Envoy with a certificate from the client CA carrying the gateway's identity connects and gets its
config; an Envoy without a client certificate, a client whose certificate another CA signed, and a
plaintext client are refused. (Certificates claiming another gateway: test_security_xds_identity.py.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ruamel.yaml import YAML

from harness import EnvoyProcess, UpstreamServer, free_port, get, port_accepts
from harness.certs import CertificateAuthority, Issued
from harness.configs import backend_doc, gateway_doc, route_doc, write_config
from harness.serve import ServeProcess, gitxds_command

IDENTITY = "spiffe://gitxds.test/ns/edge/sa/envoy-edge"


@pytest.fixture(scope="module")
def mtls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    tmp_path = tmp_path_factory.mktemp("mtls")
    ca = CertificateAuthority(tmp_path / "ca")
    rogue_ca = CertificateAuthority(tmp_path / "rogue", "rogue-ca")
    server = ca.issue("xds-server", serial=1)
    api = UpstreamServer("api").start()
    port = free_port()
    cluster = f"edge-mtls-{port}"
    config_dir = tmp_path / "config"
    write_config(
        config_dir,
        [
            gateway_doc("edge", port, proxies={"cluster": cluster, "identities": [IDENTITY]}),
            backend_doc("api", [api.port]),
            route_doc("chat", [{"backends": [{"name": "api"}]}]),
        ],
    )
    tls_args = ("--tls-cert", str(server.cert), "--tls-key", str(server.key), "--client-ca", str(ca.cert))
    serve = ServeProcess(config_dir, tmp_path, *tls_args)
    yield SimpleNamespace(
        ca=ca, rogue_ca=rogue_ca, serve=serve, port=port, cluster=cluster, workdir=tmp_path,
        client=ca.issue("envoy-client", serial=2, common_name="edge-1", san=f"URI:{IDENTITY}"),
        rogue=rogue_ca.issue("rogue-client", serial=3, common_name="edge-1"),
    )  # fmt: skip
    serve.stop()
    api.stop()


def _bootstrap(stack: SimpleNamespace, node_id: str, client: Issued | None) -> dict[str, object]:
    args = ["bootstrap", "--xds-address", stack.serve.xds_address, "--node-id", node_id]
    args += ["--node-cluster", stack.cluster, "--admin-port", "0", "--ca", str(stack.ca.cert)]
    if client is not None:
        args += ["--tls-cert", str(client.cert), "--tls-key", str(client.key)]
    bootstrap: dict[str, object] = YAML(typ="safe").load(gitxds_command(*args))
    return bootstrap


def _connected_node_ids(stack: SimpleNamespace) -> set[str]:
    return {proxy["node_id"] for proxy in stack.serve.status()["proxies"]}


def test_an_envoy_with_a_client_certificate_connects_and_gets_its_config(mtls):
    with EnvoyProcess(_bootstrap(mtls, "edge-1", mtls.client), mtls.workdir) as envoy:
        envoy.wait_listening(mtls.port, timeout=10)
        response = get(mtls.port, "/v1/chat")
        assert (response.status, response.upstream) == (200, "api")
        assert "edge-1" in _connected_node_ids(mtls)
        xds_cluster = envoy.bootstrap["static_resources"]["clusters"][0]  # type: ignore[index]
        assert xds_cluster["transport_socket"]["name"] == "envoy.transport_sockets.tls"


def test_an_envoy_without_a_client_certificate_gets_nothing(mtls):
    bootstrap = _bootstrap(mtls, "edge-anonymous", None)
    for source in ("lds_config", "cds_config"):  # go LIVE without config instead of waiting 15s for it
        bootstrap["dynamic_resources"][source]["initial_fetch_timeout"] = "1s"  # type: ignore[index]
    with EnvoyProcess(bootstrap, mtls.workdir) as envoy:
        envoy.wait_for(
            lambda: envoy.stat("cluster.gitxds_xds.upstream_cx_total") >= 2,
            10,
            message="Envoy tried to reach gitxds at least twice",
        )
        assert envoy.stat("control_plane.connected_state") == 0
        assert not port_accepts(mtls.port)  # no listener was ever configured
        assert "edge-anonymous" not in _connected_node_ids(mtls)


def _health(stack: SimpleNamespace, credentials: grpc.ChannelCredentials | None) -> str:
    """Ask the xDS port's gRPC health service; the status name, or the gRPC error code's name."""
    address = stack.serve.xds_address
    channel = (
        grpc.secure_channel(address, credentials, options=(("grpc.ssl_target_name_override", "localhost"),))
        if credentials is not None
        else grpc.insecure_channel(address)
    )
    with channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=3)
        except grpc.RpcError as error:
            return str(error.code().name)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def _credentials(ca: CertificateAuthority, client: Issued | None) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=ca.cert.read_bytes(),
        private_key=client.key.read_bytes() if client is not None else None,
        certificate_chain=client.cert.read_bytes() if client is not None else None,
    )


def test_only_clients_with_a_certificate_from_the_client_ca_are_served(mtls):
    assert _health(mtls, _credentials(mtls.ca, mtls.client)) == "SERVING"
    assert _health(mtls, _credentials(mtls.ca, None)) == "UNAVAILABLE"
    assert _health(mtls, _credentials(mtls.ca, mtls.rogue)) == "UNAVAILABLE"
    assert _health(mtls, None) == "UNAVAILABLE"  # plaintext


def test_tls_options_must_come_in_pairs(tmp_path: Path, mtls):
    key_only = ("--tls-key", str(mtls.client.key))
    with pytest.raises(AssertionError, match="--tls-cert and --tls-key go together"):
        gitxds_command("serve", str(tmp_path), *key_only)
    with pytest.raises(AssertionError, match="--tls-cert and --tls-key go together"):
        gitxds_command("bootstrap", "--xds-address", "127.0.0.1:1", "--node-id", "a", "--node-cluster", "b",
                       "--ca", str(mtls.ca.cert), *key_only)  # fmt: skip
