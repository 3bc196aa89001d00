"""A Kubernetes API client from a kubeconfig file, or from the pod's service account."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import client, config

from gitxds.errors import GitxdsError

__all__ = ["DiscoveryUnavailableError", "discovery_api", "pods_api"]


class DiscoveryUnavailableError(GitxdsError):
    """Neither a kubeconfig was given nor does the process run in a Kubernetes pod."""


def discovery_api(kubeconfig: Path | None, in_cluster: bool) -> Any:
    """A ``DiscoveryV1Api``: from ``kubeconfig`` when given, else from the pod's service account when
    ``in_cluster`` (the caller saw ``KUBERNETES_SERVICE_HOST``)."""
    if kubeconfig is not None:
        api_client = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
        return client.DiscoveryV1Api(api_client)
    if in_cluster:
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return client.DiscoveryV1Api(client.ApiClient(configuration))
    raise DiscoveryUnavailableError(
        "the config has kubernetes backends: pass --kubeconfig, or run gitxds in a Kubernetes pod"
    )


def pods_api(discovery: Any) -> Any:
    """A ``CoreV1Api`` (pods) on the same connection settings as ``discovery``, a ``DiscoveryV1Api``."""
    return client.CoreV1Api(discovery.api_client)
