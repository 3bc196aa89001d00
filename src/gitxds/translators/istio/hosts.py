"""Where each gitxds Backend lives in Istio: a host, an optional subset and a port.

Backends that select the same Kubernetes Service (same service and namespace) are versions of one
host and become subsets of one DestinationRule. Backends with static or DNS endpoints are outside
the mesh's registry, so each gets its own ServiceEntry host.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from gitxds import ir

__all__ = ["STATIC_HOST_SUFFIX", "BackendGroup", "Placement", "group_backends", "pod_selector"]

# Static endpoints have no DNS name; the exported ServiceEntry gives them this one.
STATIC_HOST_SUFFIX = "gitxds.internal"


@dataclass(frozen=True, slots=True)
class Placement:
    host: str
    subset: str | None
    port: int


@dataclass(frozen=True, slots=True)
class BackendGroup:
    """The backends behind one Istio host: one DestinationRule (and a ServiceEntry unless Kubernetes)."""

    name: str  # DestinationRule / ServiceEntry name
    host: str
    backends: tuple[ir.Backend, ...]
    subsets: tuple[str | None, ...]  # parallel to backends; None: the backend is the whole host

    def placement(self, backend: ir.Backend) -> Placement:
        index = self.backends.index(backend)
        return Placement(self.host, self.subsets[index], backend_port(backend))


def backend_port(backend: ir.Backend) -> int:
    source = backend.endpoints
    if isinstance(source, ir.StaticEndpoints):
        return source.endpoints[0].port if source.endpoints else 80
    return source.port


def group_backends(backends: tuple[ir.Backend, ...]) -> tuple[BackendGroup, ...]:
    """Groups sorted by name; Kubernetes versions of one Service share a group."""
    by_service: dict[tuple[str, str], list[ir.Backend]] = {}
    groups: list[BackendGroup] = []
    for backend in backends:
        source = backend.endpoints
        if isinstance(source, ir.KubernetesEndpoints):
            by_service.setdefault((source.service, source.namespace), []).append(backend)
        else:
            groups.append(BackendGroup(backend.name, _external_host(backend), (backend,), (None,)))
    service_names = Counter(service for service, _ in by_service)
    for (service, namespace), members in by_service.items():
        name = service if service_names[service] == 1 else f"{service}-{namespace}"
        host = f"{service}.{namespace}.svc.cluster.local"
        groups.append(BackendGroup(name, host, tuple(members), _subset_names(members)))
    return tuple(sorted(groups, key=lambda g: g.name))


def _external_host(backend: ir.Backend) -> str:
    if isinstance(backend.endpoints, ir.DnsEndpoints):
        return backend.endpoints.hostname
    return f"{backend.name}.{STATIC_HOST_SUFFIX}"


def _subset_names(members: list[ir.Backend]) -> tuple[str | None, ...]:
    """A lone backend that selects no pods is the whole host; otherwise each backend is a subset
    named after its ``version`` label (or the ``version`` its pod selector asks for); when versions
    are missing or repeat, after its own name without the ``<service>-`` prefix (or in full)."""
    if len(members) == 1 and not pod_selector(members[0]):
        return (None,)
    versions = [dict(b.labels).get("version") or pod_selector(b).get("version") for b in members]
    if all(versions) and len(set(versions)) == len(versions):
        return tuple(versions)
    # ``<service>-<subset>`` is how an import names the Backend of a subset: give the name back
    service = members[0].endpoints.service if isinstance(members[0].endpoints, ir.KubernetesEndpoints) else ""
    short = [b.name.removeprefix(f"{service}-") or b.name for b in members]
    return tuple(short) if len(set(short)) == len(short) else tuple(b.name for b in members)


def pod_selector(backend: ir.Backend) -> dict[str, str]:
    """The pods a Backend's subset selects: a Kubernetes selector; empty: every pod of the host."""
    source = backend.endpoints
    return dict(source.selector) if isinstance(source, ir.KubernetesEndpoints) else {}
