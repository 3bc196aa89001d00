"""Endpoint discovery: the endpoints of Kubernetes-backed Backends, from EndpointSlices (and the
labels of their pods, for Backends that select pods).

Never imports the translators, the xDS server, gitops or config: it turns EndpointSlices into
``ir.Endpoint`` tuples and says when they changed; gitops decides what to push.
"""

from gitxds.discovery.client import DiscoveryUnavailableError, discovery_api
from gitxds.discovery.discovery import EndpointDiscovery, EndpointsChanged
from gitxds.discovery.slices import SERVICE_NAME_LABEL, endpoints_for_port, pods_selected
from gitxds.discovery.watch import ApiError, Backoff, PodWatch, SliceWatch

__all__ = [
    "SERVICE_NAME_LABEL",
    "ApiError",
    "Backoff",
    "DiscoveryUnavailableError",
    "EndpointDiscovery",
    "EndpointsChanged",
    "PodWatch",
    "SliceWatch",
    "discovery_api",
    "endpoints_for_port",
    "pods_selected",
]
