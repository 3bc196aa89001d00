"""manifests/: every object is a valid Kubernetes object, and what it says about gitxds matches gitxds.

Objects are read with the ``kubernetes`` client's own models (``ApiClient.deserialize``); since that
drops keys it does not know, each object is compared with its re-serialized form to catch misspelt
fields. Ports, args, probes and images are checked against the CLI, the Dockerfile and pyproject.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient

from gitxds.cli import build_parser
from gitxds.gitops.envoy_check import find_envoy
from gitxds.gitops.exposure import open_exposures
from harness.certs import CertificateAuthority

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = ROOT / "manifests"
EDGE = MANIFESTS / "envoy-edge"
MODELS = {
    "Namespace": "V1Namespace",
    "ServiceAccount": "V1ServiceAccount",
    "ClusterRole": "V1ClusterRole",
    "ClusterRoleBinding": "V1ClusterRoleBinding",
    "Role": "V1Role",
    "RoleBinding": "V1RoleBinding",
    "Deployment": "V1Deployment",
    "Service": "V1Service",
    "PodDisruptionBudget": "V1PodDisruptionBudget",
}
# cert-manager kinds (no model in the kubernetes client): the spec fields these manifests may use.
CERT_MANAGER_FIELDS = {
    "Issuer": {"selfSigned", "ca"},
    "Certificate": {"secretName", "isCA", "commonName", "dnsNames", "uris", "usages", "duration",
                    "privateKey", "issuerRef"},
}  # fmt: skip


def kustomization(directory: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((directory / "kustomization.yaml").read_text())
    return loaded


def objects(directory: Path) -> list[dict[str, Any]]:
    return [
        doc
        for name in kustomization(directory)["resources"]
        for doc in yaml.safe_load_all((directory / name).read_text())
        if doc
    ]


ALL_OBJECTS = objects(MANIFESTS) + objects(EDGE)


def one(kind: str, name: str) -> dict[str, Any]:
    found = [o for o in ALL_OBJECTS if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name)
    return found[0]


def unknown_keys(written: Any, understood: Any, path: str = "") -> list[str]:
    if isinstance(written, dict):
        if not isinstance(understood, dict):
            return [path or "/"]
        problems = []
        for key, value in written.items():
            if key not in understood:
                problems.append(f"{path}/{key}")
            else:
                problems += unknown_keys(value, understood[key], f"{path}/{key}")
        return problems
    if isinstance(written, list) and isinstance(understood, list) and len(written) == len(understood):
        return [
            p
            for i, (w, u) in enumerate(zip(written, understood, strict=True))
            for p in unknown_keys(w, u, f"{path}/{i}")
        ]
    return []


def test_kustomizations_list_every_manifest_file() -> None:
    for directory in (MANIFESTS, EDGE):
        listed = set(kustomization(directory)["resources"])
        generated = {f for g in kustomization(directory).get("configMapGenerator", []) for f in g["files"]}
        on_disk = {p.name for p in directory.glob("*.yaml")} - {"kustomization.yaml"}
        assert listed | generated == on_disk, directory
        assert listed <= {name for name in listed if (directory / name).is_file()}


@pytest.mark.parametrize("obj", ALL_OBJECTS, ids=lambda o: f"{o['kind']}/{o['metadata']['name']}")
def test_every_object_is_a_kubernetes_object_with_no_unknown_field(obj: dict[str, Any]) -> None:
    if obj["kind"] in CERT_MANAGER_FIELDS:
        assert obj["apiVersion"] == "cert-manager.io/v1"
        assert set(obj["spec"]) <= CERT_MANAGER_FIELDS[obj["kind"]], obj["metadata"]["name"]
        return
    client = ApiClient()
    model = client.deserialize(json.dumps(obj), MODELS[obj["kind"]], "application/json")
    assert unknown_keys(obj, client.sanitize_for_serialization(model)) == []


def test_unknown_fields_are_caught() -> None:
    deployment = json.loads(json.dumps(one("Deployment", "gitxds")))
    deployment["spec"]["template"]["spec"]["containers"][0]["readynessProbe"] = {}
    client = ApiClient()
    model = client.deserialize(json.dumps(deployment), "V1Deployment", "application/json")
    assert unknown_keys(deployment, client.sanitize_for_serialization(model)) == [
        "/spec/template/spec/containers/0/readynessProbe"
    ]


def pod_spec(name: str) -> dict[str, Any]:
    spec: dict[str, Any] = one("Deployment", name)["spec"]["template"]["spec"]
    return spec


def container(name: str, container_name: str) -> dict[str, Any]:
    return next(c for c in pod_spec(name)["containers"] if c["name"] == container_name)


def serve_args() -> Any:
    return build_parser().parse_args(["serve", *container("gitxds", "gitxds")["args"]])


def test_gitxds_args_are_serve_flags_and_ports_agree_with_probes_and_services() -> None:
    args = serve_args()
    gitxds = container("gitxds", "gitxds")
    ports = {p["name"]: p["containerPort"] for p in gitxds["ports"]}
    assert ports == {
        "grpc-xds": int(args.xds_address.rpartition(":")[2]),
        "admin": int(args.admin_address.rpartition(":")[2]),
    }
    assert gitxds["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert gitxds["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
    service = one("Service", "gitxds")
    assert {p["targetPort"] for p in service["spec"]["ports"]} == set(ports)
    assert {p["port"] for p in service["spec"]["ports"]} == set(ports.values())
    docker_cmd = next(
        json.loads(line.removeprefix("CMD "))
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("CMD ")
    )
    docker_args = build_parser().parse_args(["serve", *docker_cmd])
    assert (docker_args.xds_address, docker_args.admin_address) == (args.xds_address, args.admin_address)


def test_gitxds_serves_what_git_sync_checks_out_into_a_shared_volume() -> None:
    spec = pod_spec("gitxds")
    git_sync = container("gitxds", "git-sync")
    flags = dict(arg.removeprefix("--").split("=", 1) for arg in git_sync["args"])
    link = f"{flags['root']}/{flags['link']}"
    assert str(serve_args().dir).startswith(link + "/")
    assert "one-time" in [a.removeprefix("--") for a in spec["initContainers"][0]["args"]]
    mounts = {c["name"]: {m["name"]: m["mountPath"] for m in c["volumeMounts"]} for c in spec["containers"]}
    assert mounts["gitxds"]["git"] == mounts["git-sync"]["git"] == flags["root"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert (
        "emptyDir" in volumes["git"]
        and "emptyDir" in volumes[next(k for k, v in mounts["gitxds"].items() if v == "/tmp")]
    )


def test_two_replicas_spread_and_a_disruption_budget() -> None:
    deployment = one("Deployment", "gitxds")
    assert deployment["spec"]["replicas"] == 2
    pdb = one("PodDisruptionBudget", "gitxds")
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert pdb["spec"]["minAvailable"] == 1


@pytest.mark.parametrize("name", ["gitxds", "envoy-edge"])
def test_every_container_is_locked_down_and_sized(name: str) -> None:
    spec = pod_spec(name)
    assert spec["securityContext"]["runAsNonRoot"] is True
    for c in spec.get("initContainers", []) + spec["containers"]:
        security = c["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, c["name"]
        assert security["allowPrivilegeEscalation"] is False, c["name"]
        assert security["capabilities"]["drop"] == ["ALL"], c["name"]
        assert set(c["resources"]) == {"requests", "limits"}, c["name"]
        assert {"cpu", "memory"} <= set(c["resources"]["requests"]) & set(c["resources"]["limits"])


def test_the_image_is_this_version_of_gitxds() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    image = container("gitxds", "gitxds")["image"]
    override = kustomization(MANIFESTS)["images"][0]
    assert image == f"{override['name']}:{version}"
    assert override["newTag"] == version


def test_rbac_allows_reading_endpointslices_and_pods_and_nothing_else_cluster_wide() -> None:
    role = one("ClusterRole", "gitxds-endpointslice-reader")
    assert role["rules"] == [
        {
            "apiGroups": ["discovery.k8s.io"],
            "resources": ["endpointslices"],
            "verbs": ["get", "list", "watch"],
        },
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
    ]
    binding = one("ClusterRoleBinding", "gitxds-endpointslice-reader")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    account = pod_spec("gitxds")["serviceAccountName"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": "gitxds"}]
    one("ServiceAccount", account)


def test_one_replica_drives_rollouts_through_its_lease_and_asks_every_replica() -> None:
    args = serve_args()
    namespace, _, lease = args.rollout_lease.partition("/")
    role = one("Role", "gitxds-rollout-lease")
    assert role["metadata"]["namespace"] == namespace
    assert role["rules"] == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [lease],
            "verbs": ["get", "update"],
        },
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
    ]
    binding = one("RoleBinding", "gitxds-rollout-lease")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "gitxds-rollout-lease",
    }
    account = pod_spec("gitxds")["serviceAccountName"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]
    # The peers: the headless Service of every replica, on the port that reaches their admin endpoint.
    name, _, port = args.peer_dns.rpartition(":")
    service = one("Service", "gitxds")
    assert service["spec"]["clusterIP"] == "None"
    assert name == f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc.cluster.local"
    admin = int(args.admin_address.rpartition(":")[2])
    assert any(p["port"] == int(port) and p["targetPort"] == "admin" for p in service["spec"]["ports"])
    assert int(port) == admin and args.admin_token_file is not None  # peers send the shared token


def bootstrap_command() -> list[str]:
    first = (EDGE / "envoy.yaml").read_text().splitlines()[0]
    command = first.removeprefix("# Generated by: ").split()
    assert command[:2] == ["gitxds", "bootstrap"], first
    return command


def test_the_envoy_bootstrap_is_what_gitxds_bootstrap_prints_today() -> None:
    command = bootstrap_command()
    printed = subprocess.run(
        [sys.executable, "-m", "gitxds", *command[1:]], capture_output=True, text=True, check=True
    ).stdout
    committed = (EDGE / "envoy.yaml").read_text()
    body = "\n".join(line for line in committed.splitlines() if not line.startswith("#")) + "\n"
    assert body == printed, f"run: make manifests (or {' '.join(command)})"


def test_the_envoy_bootstrap_reaches_the_gitxds_service_and_envoy_accepts_it(tmp_path: Path) -> None:
    bootstrap = yaml.safe_load((EDGE / "envoy.yaml").read_text())
    xds = bootstrap["static_resources"]["clusters"][0]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
    address = xds["endpoint"]["address"]["socket_address"]
    service = one("Service", "gitxds")
    assert address["address"] == f"gitxds.{service['metadata']['namespace']}.svc.cluster.local"
    assert address["port_value"] in {p["port"] for p in service["spec"]["ports"]}
    assert bootstrap["node"]["cluster"] == "edge"
    envoy = find_envoy()
    assert envoy is not None
    # The bootstrap reads the pod's mounted certificate files: give it real ones at the same names.
    tls_dir = edge_tls_mount()
    ca = CertificateAuthority(tmp_path / "ca")
    issued = ca.issue("edge", serial=1)
    text = (EDGE / "envoy.yaml").read_text()
    for name, source in (("ca.crt", ca.cert), ("tls.crt", issued.cert), ("tls.key", issued.key)):
        assert f"{tls_dir}/{name}" in text
        text = text.replace(f"{tls_dir}/{name}", str(source))
    (tmp_path / "envoy.yaml").write_text(text)
    check = subprocess.run(
        [envoy, "--mode", "validate", "-c", str(tmp_path / "envoy.yaml"), "--service-node", "envoy-edge-0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_edge_mounts_the_generated_bootstrap_and_listens_where_the_example_gateway_does() -> None:
    generator = kustomization(EDGE)["configMapGenerator"][0]
    spec = pod_spec("envoy-edge")
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["bootstrap"]["configMap"]["name"] == generator["name"]
    envoy = container("envoy-edge", "envoy")
    mount = next(m for m in envoy["volumeMounts"] if m["name"] == "bootstrap")
    args = envoy["args"]
    assert args[args.index("--config-path") + 1] == f"{mount['mountPath']}/{generator['files'][0]}"
    assert args[args.index("--service-node") + 1] == "$(POD_NAME)"  # a unique node.id per pod
    gateway = yaml.safe_load("\n".join((ROOT / "examples/ai-gateway/gateway.yaml").read_text().splitlines()))
    assert gateway["spec"]["proxies"]["cluster"] == "edge"
    assert {p["containerPort"] for p in envoy["ports"]} == {
        lst["port"] for lst in gateway["spec"]["listeners"]
    }


def edge_tls_mount() -> str:
    mounts = {m["name"]: m["mountPath"] for m in container("envoy-edge", "envoy")["volumeMounts"]}
    return str(mounts["xds-tls"])


def secret_mounted_at(deployment: str, container_name: str, directory: str) -> str:
    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    mount = next(
        m for m in container(deployment, container_name)["volumeMounts"] if m["mountPath"] == directory
    )
    return str(volumes[mount["name"]]["secret"]["secretName"])


def test_xds_is_mutual_tls_with_certificates_from_one_ca_and_admin_needs_a_token() -> None:
    args = serve_args()
    tls_dir = str(Path(args.tls_cert).parent)
    assert {str(args.tls_cert), str(args.tls_key), str(args.client_ca)} == {
        f"{tls_dir}/tls.crt",
        f"{tls_dir}/tls.key",
        f"{tls_dir}/ca.crt",
    }
    server_cert = one("Certificate", "gitxds-xds")
    assert secret_mounted_at("gitxds", "gitxds", tls_dir) == server_cert["spec"]["secretName"]
    assert open_exposures(xds_address=args.xds_address, mutual_tls=True, admin_address=args.admin_address,
                          admin_token=args.admin_token_file is not None) == []  # fmt: skip
    assert not args.insecure
    bootstrap = yaml.safe_load((EDGE / "envoy.yaml").read_text())
    xds = bootstrap["static_resources"]["clusters"][0]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
    assert xds["endpoint"]["address"]["socket_address"]["address"] in server_cert["spec"]["dnsNames"]
    edge_cert = one("Certificate", "envoy-edge")
    assert secret_mounted_at("envoy-edge", "envoy", edge_tls_mount()) == edge_cert["spec"]["secretName"]
    ca_issuer = one("Issuer", server_cert["spec"]["issuerRef"]["name"])
    assert edge_cert["spec"]["issuerRef"] == server_cert["spec"]["issuerRef"]
    assert one("Certificate", "gitxds-ca")["spec"]["secretName"] == ca_issuer["spec"]["ca"]["secretName"]


def test_the_edge_certificate_carries_the_identity_the_example_gateway_lists() -> None:
    account = pod_spec("envoy-edge")["serviceAccountName"]
    one("ServiceAccount", account)
    identity = f"spiffe://cluster.local/ns/gitxds/sa/{account}"
    assert one("Certificate", "envoy-edge")["spec"]["uris"] == [identity]
    gateway = yaml.safe_load((ROOT / "examples/ai-gateway/gateway.yaml").read_text())
    assert gateway["spec"]["proxies"]["identities"] == [identity]
