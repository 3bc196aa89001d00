"""Proxies bound to their certificate: `Gateway.spec.proxies.identities` with `gitxds serve --client-ca`.

Gateway A is for certificates carrying spiffe://gitxds.test/ns/edge/sa/edge-a, B and C hold a TLS
private key (SDS) and an upstream credential (CDS). A real gRPC client holding A's valid certificate
claims B (by node.cluster) and C (by node.id): each stream ends with PERMISSION_DENIED before any
resource is sent, the refusal is counted, logged once per distinct claim, and listed in /status.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace

import grpc
import pytest
from envoy.service.accesslog.v3 import als_pb2, als_pb2_grpc

from gitxds import typeurls
from harness import free_port
from harness.certs import CertificateAuthority, Issued, install_certificate
from harness.configs import backend_doc, document, route_doc, write_config
from harness.serve import ServeProcess
from harness.xds_client import XdsStream, node, sotw

TRUST = "spiffe://gitxds.test/ns/edge/sa"
CREDENTIAL = "Bearer provider-credential-b-7f3a"


def _gateway(name: str, selector: dict[str, str], listener: dict[str, object]) -> dict[str, object]:
    proxies = {**selector, "identities": [f"{TRUST}/{name}"]}
    return document("Gateway", name, {"proxies": proxies, "listeners": [listener]})


def _https(secret: str) -> dict[str, object]:
    return {"name": "https", "port": free_port(), "address": "127.0.0.1", "protocol": "HTTPS",
            "tls": {"secretRef": secret}}  # fmt: skip


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    tmp = tmp_path_factory.mktemp("identity")
    ca = CertificateAuthority(tmp / "ca")
    secrets = tmp / "secrets"
    listener_cert = ca.issue("listener", serial=10)
    install_certificate(secrets, "b-cert", listener_cert)
    install_certificate(secrets, "c-cert", listener_cert)
    (secrets / "b-key").write_text(CREDENTIAL + "\n")
    plain = {"name": "http", "port": free_port(), "address": "127.0.0.1"}
    credential = {"set": {"authorization": {"secretRef": "b-key"}}}
    write_config(
        tmp / "config",
        [
            _gateway("edge-a", {"cluster": "edge-a"}, plain),
            _gateway("edge-b", {"cluster": "edge-b"}, _https("b-cert")),
            _gateway("edge-c", {"nodeId": "edge-c-1"}, _https("c-cert")),
            backend_doc("api", [free_port()]),
            backend_doc("provider", [free_port()], requestHeaders=credential),
            route_doc("a", [{"backends": [{"name": "api"}]}], gateways=["edge-a"]),
            route_doc("b", [{"backends": [{"name": "provider"}]}], gateways=["edge-b", "edge-c"]),
        ],
    )
    server = ca.issue("xds-server", serial=1)
    tls = ("--tls-cert", str(server.cert), "--tls-key", str(server.key), "--client-ca", str(ca.cert))
    serve = ServeProcess(tmp / "config", tmp, "--secrets-dir", str(secrets), *tls)
    yield SimpleNamespace(
        serve=serve, ca=ca, key_pem=listener_cert.key.read_text(),
        edge_a=ca.issue("edge-a", serial=2, common_name="edge-a", san=f"URI:{TRUST}/edge-a"),
    )  # fmt: skip
    serve.stop()


def _channel(stack: SimpleNamespace, client: Issued) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=stack.ca.cert.read_bytes(),
        private_key=client.key.read_bytes(),
        certificate_chain=client.cert.read_bytes(),
    )
    options = (("grpc.ssl_target_name_override", "localhost"), ("grpc.use_local_subchannel_pool", 1))
    return grpc.secure_channel(stack.serve.xds_address, credentials, options=options)


def _claim(stack: SimpleNamespace, node_id: str, cluster: str) -> tuple[grpc.StatusCode | None, list[bytes]]:
    """A's certificate, asking for secrets, clusters and listeners as ``node_id``/``cluster``."""
    with _channel(stack, stack.edge_a) as channel:
        stream = XdsStream(channel)
        stream.send(sotw(typeurls.CLUSTER, node=node(node_id, cluster)))
        stream.send(sotw(typeurls.SECRET, ["b-cert", "c-cert"]))
        stream.send(sotw(typeurls.LISTENER))
        received: list[bytes] = []
        while (response := stream.recv()) is not None:
            received.append(response.SerializeToString())
            if len(received) == 2:  # clusters and listeners (A has no secret named b-cert or c-cert)
                break
        stream.close()
        return stream.code, received


def test_a_certificate_gets_its_own_gateway(stack):
    code, received = _claim(stack, "edge-a-1", "edge-a")
    assert code in (None, grpc.StatusCode.CANCELLED)  # we closed it after two responses
    assert len(received) == 2 and b"http" in b"".join(received)


@pytest.mark.parametrize(
    ("node_id", "cluster", "gateway"),
    [("edge-a-1", "edge-b", "edge-b"), ("edge-c-1", "edge-a", "edge-c")],
    ids=["node.cluster-names-B", "node.id-names-C"],
)
def test_a_certificate_claiming_another_gateway_is_refused_and_gets_no_secret(
    stack, node_id, cluster, gateway
):
    before = stack.serve.metric("gitxds_xds_refused_total", reason="identity")
    for _ in range(2):
        code, received = _claim(stack, node_id, cluster)
        assert code == grpc.StatusCode.PERMISSION_DENIED
        assert received == []
        leaked = b"".join(received)
        assert stack.key_pem.encode() not in leaked and CREDENTIAL.encode() not in leaked
    assert stack.serve.metric("gitxds_xds_refused_total", reason="identity") == before + 2
    refused = [r for r in stack.serve.status()["refused"] if r["gateway"] == gateway]
    assert refused == [{**refused[0], "node_id": node_id, "identities": [f"{TRUST}/edge-a"], "count": 2}]
    lines = [line for line in stack.serve.log_tail(400).splitlines() if "refused xDS stream" in line]
    assert sum(f"gateway {gateway} " in line for line in lines) == 1  # logged once, counted twice


def _log_as(stack: SimpleNamespace, gateway: str, count: int) -> grpc.StatusCode | None:
    """A's certificate streaming ``count`` 500s to gitxds's access-log service, named for ``gateway``."""
    message = als_pb2.StreamAccessLogsMessage()
    message.identifier.node.id = "edge-a-1"
    message.identifier.log_name = f"gitxds/{gateway}"
    for _ in range(count):
        entry = message.http_logs.log_entry.add()
        entry.response.response_code.value = 500
        entry.common_properties.custom_tags["backend"] = "provider"
    with _channel(stack, stack.edge_a) as channel:
        stub = als_pb2_grpc.AccessLogServiceStub(channel)
        try:
            stub.StreamAccessLogs(iter([message]), timeout=10)
        except grpc.RpcError as error:
            return error.code()  # type: ignore[no-any-return]
        return None


def _received(stack: SimpleNamespace) -> int:
    code, body = stack.serve.get("/usage")
    assert code == 200, body
    return int(json.loads(body)["received"])


def test_access_logs_count_only_from_the_gateway_the_certificate_may_act_for(stack):
    """Forged failures for another gateway could roll back its rollout: they are refused, not counted."""
    received = _received(stack)
    assert _log_as(stack, "edge-b", 5) == grpc.StatusCode.PERMISSION_DENIED
    assert _log_as(stack, "edge-a", 3) is None
    assert _received(stack) == received + 3
