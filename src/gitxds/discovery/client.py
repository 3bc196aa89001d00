"""A Kubernetes API client from a kubeconfig file, or from the pod's service account."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubernetes import client, config

from gitxds.errors import GitxdsError

__all__ = ["DiscoveryUnavailableError", "discovery_api"]


class DiscoveryUnavailableError(GitxdsError):
    """Neither a kubeconfig was given nor does the process run in a Kubernetes pod."""


def discovery_api(kubeconfig: Path | None, environ: Mapping[str, str]) -> Any:
    """A ``DiscoveryV1Api``: from ``kubeconfig`` when given, else in-cluster when in a pod."""
    if kubeconfig is not None:
        api_client = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
        return client.DiscoveryV1Api(api_client)
    if environ.get("KUBERNETES_SERVICE_HOST"):
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return client.DiscoveryV1Api(client.ApiClient(configuration))
    raise DiscoveryUnavailableError(
        "the config has kubernetes backends: pass --kubeconfig, or run gitxds in a Kubernetes pod"
    )
