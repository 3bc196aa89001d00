"""Bootstraps, checked by the real Envoy binary (`envoy --mode validate`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.core.v3.config_source_pb2 import ApiConfigSource
from google.protobuf.json_format import MessageToJson
from google.protobuf.message import Message

from gitxds.compile import compile_directory
from gitxds.errors import UsageError
from gitxds.translators.xds import XDS_CLUSTER, dynamic_bootstrap, static_bootstrap

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ai-gateway"


def envoy_validate(bootstrap: Message, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    beside = Path(sys.executable).parent / "envoy"
    envoy = str(beside) if beside.is_file() else shutil.which("envoy")
    assert envoy is not None, "no envoy binary beside the Python interpreter or on PATH: run `make venv`"
    path = tmp_path / "bootstrap.json"
    path.write_text(MessageToJson(bootstrap))
    command = [envoy, "--mode", "validate", "--log-level", "error", "--disable-hot-restart", "-c", str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("delta", [False, True])
def test_dynamic_bootstrap_is_accepted_by_envoy(delta: bool, tmp_path: Path) -> None:
    bootstrap = dynamic_bootstrap(
        xds_address="127.0.0.1:18000", node_id="edge-1", node_cluster="edge", delta=delta
    )
    result = envoy_validate(bootstrap, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    ads = bootstrap.dynamic_resources.ads_config
    assert ads.api_type == (ApiConfigSource.DELTA_GRPC if delta else ApiConfigSource.GRPC)
    assert ads.grpc_services[0].envoy_grpc.cluster_name == XDS_CLUSTER
    assert ads.grpc_services[0].envoy_grpc.max_receive_message_length.value > 4 * 1024 * 1024
    assert bootstrap.dynamic_resources.lds_config.HasField("ads")
    assert bootstrap.dynamic_resources.cds_config.HasField("ads")
    assert (bootstrap.node.id, bootstrap.node.cluster) == ("edge-1", "edge")


def test_the_xds_server_may_be_a_hostname() -> None:
    by_name = dynamic_bootstrap(xds_address="gitxds.gitxds-system:18000", node_id="n", node_cluster="edge")
    by_ip = dynamic_bootstrap(xds_address="[::1]:18000", node_id="n", node_cluster="edge")
    assert by_name.static_resources.clusters[0].type == Cluster.STRICT_DNS
    assert by_ip.static_resources.clusters[0].type == Cluster.STATIC


@pytest.mark.parametrize("address", ["gitxds", "gitxds:", ":18000", "gitxds:99999", "gitxds:port"])
def test_a_bad_xds_address_is_a_usage_error(address: str) -> None:
    with pytest.raises(UsageError, match="HOST:PORT"):
        dynamic_bootstrap(xds_address=address, node_id="n", node_cluster="edge")


def test_the_example_static_bootstrap_is_accepted_by_envoy(tmp_path: Path) -> None:
    model = compile_directory(EXAMPLE).model
    bootstrap = static_bootstrap(model, "edge", {"provider-b-key": "Bearer x"}, admin_port=0)
    assert all(c.type != Cluster.EDS for c in bootstrap.static_resources.clusters)
    result = envoy_validate(bootstrap, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
