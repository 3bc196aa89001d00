"""Show the validator Envoy only the routes it has not accepted yet.

Delta xDS replaces whole resources, and a gateway's routes live in one ``RouteConfiguration``: at
10,000 routes a one-route edit made Envoy parse and check 437 KB again (40-90 ms). Instead, once Envoy
has accepted a gateway's candidate, the next candidate's route configurations keep every field of
their own and every virtual host (with all its fields and domains) but only the routes that are not
byte-for-byte a route of the same virtual host in the accepted candidate.

Why a partial candidate gets the verdict the whole one would (Envoy's ``RouteConfiguration`` checks,
``source/common/router/config_impl.cc`` and the proto rules):

- A route's own checks (regex program size, rewrites, weighted clusters, headers to add, upgrade
  configs, per-filter configs, retry and hedge policies, a direct response body against
  ``max_direct_response_body_size_bytes``, cluster specifier plugins) read only the route, its virtual
  host and the configuration's own fields. Those fields are sent unchanged and must be byte-identical
  to the accepted candidate's (else the whole resource is sent), so a route that was accepted in that
  context is accepted again and is not sent; a new or changed route is sent and checked in full.
- The checks spanning routes are all at the virtual host level: duplicate domains across virtual hosts,
  a single ``*`` domain, ``matcher`` beside routes, virtual clusters. Every virtual host is sent with
  its domains and fields, so they run as before. No check counts or compares routes with each other.
- ``validate_clusters`` makes each route's clusters be looked up among the clusters Envoy holds: with
  it on, the whole resource is sent whenever any cluster changed.
- The listeners (the connection manager naming the configuration and its filters) must be the very
  same as in the accepted candidate; otherwise everything is sent.
- Size: the proxies receive the whole configuration in one message of bounded size; a gateway's
  route configurations over ``whole_above_bytes`` (half that bound) are sent whole.

Everything is sent whole when unsure: the first candidate of a gateway, after the validator (re)started,
after a candidate was refused or not answered, and when any of the above changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from envoy.config.route.v3.route_pb2 import RouteConfiguration

from gitxds import typeurls
from gitxds.xds.cache.encoding import EncodedResource, string_field
from gitxds.xds.cache.route_wire import (
    HostParts,
    WireError,
    any_value,
    edited_host,
    join_route_config,
    split_host,
    split_top,
    without,
)
from gitxds.xds.cache.snapshot import Snapshot

__all__ = ["Narrowed", "RouteNarrowing"]


@dataclass(frozen=True, slots=True)
class _Checked:
    """One route configuration of a candidate: its version and its parts."""

    version: str
    head: bytes
    hosts: tuple[HostParts, ...]
    validate_clusters: bool

    @classmethod
    def of(cls, version: str, head: bytes, hosts: tuple[HostParts, ...]) -> _Checked:
        config = RouteConfiguration.FromString(head)  # a few fields: cheap to decode
        validate = config.HasField("validate_clusters") and config.validate_clusters.value
        return cls(version, head, hosts, validate)


@dataclass(frozen=True, slots=True)
class _Accepted:
    """What Envoy accepted for one gateway, and the context it was accepted in."""

    tables: dict[str, _Checked]
    listeners: str  # the listener table's version
    clusters: str  # the cluster table's version


@dataclass(slots=True)
class Narrowed:
    """The route configurations to push for one candidate, and what to remember if Envoy accepts it."""

    resources: list[EncodedResource]
    whole: bool  # every route configuration sent as it is
    routes_sent: int | None  # None: not counted
    _accepted: _Accepted | None = field(repr=False)

    @classmethod
    def unnarrowed(cls, snapshot: Snapshot) -> Narrowed:
        """Every route configuration of ``snapshot`` as it is, nothing to remember."""
        return cls(list(snapshot.resources(typeurls.ROUTE)), True, None, None)


class RouteNarrowing:
    """Per gateway, the route configurations last accepted by the validator Envoy."""

    def __init__(self, whole_above_bytes: int) -> None:
        self._whole_above_bytes = whole_above_bytes
        self._accepted: dict[str, _Accepted] = {}

    def narrow(self, gateway: str, snapshot: Snapshot) -> Narrowed:
        """The route configurations of ``snapshot`` to push: whole or only their new routes."""
        table = snapshot.resources(typeurls.ROUTE)
        listeners = snapshot.resources(typeurls.LISTENER).version
        clusters = snapshot.resources(typeurls.CLUSTER).version
        before = self._accepted.get(gateway)
        if before is not None and (
            before.listeners != listeners or sum(len(r.any_bytes) for r in table) > self._whole_above_bytes
        ):
            before = None
        pushed: list[EncodedResource] = []
        checked: dict[str, _Checked] = {}
        sent = 0
        for resource in table:
            earlier = before.tables.get(resource.name) if before is not None else None
            if earlier is not None and earlier.validate_clusters and before is not None:
                earlier = earlier if before.clusters == clusters else None
            now, push, count = _narrow(resource, earlier)
            if now is not None:
                checked[resource.name] = now
            pushed.append(push)
            sent += count
        whole = all(push is resource for push, resource in zip(pushed, table, strict=True))
        return Narrowed(pushed, whole, sent, _Accepted(checked, listeners, clusters))

    def accepted(self, gateway: str, narrowed: Narrowed) -> None:
        if narrowed._accepted is None:
            self._accepted.pop(gateway, None)
        else:
            self._accepted[gateway] = narrowed._accepted

    def forget(self, gateway: str | None = None) -> None:
        """The next candidate (of ``gateway``, or of every gateway) is sent whole."""
        if gateway is None:
            self._accepted.clear()
        else:
            self._accepted.pop(gateway, None)


def _narrow(
    resource: EncodedResource, earlier: _Checked | None
) -> tuple[_Checked | None, EncodedResource, int]:
    """This configuration's parts (None if it cannot be split: then it is always sent whole), what to
    push for it, and how many routes that carries."""
    if earlier is not None and earlier.version == resource.version:
        return earlier, _partial(resource, earlier, [[] for _ in earlier.hosts]), 0
    try:
        head, host_values = split_top(any_value(resource.any_bytes))
        if earlier is not None and earlier.head == head and len(earlier.hosts) == len(host_values):
            edited = [_edited(old, value) for old, value in zip(earlier.hosts, host_values, strict=True)]
            if all(routes is not None for _, routes in edited):
                now = _Checked(resource.version, head, tuple(h for h, _ in edited), earlier.validate_clusters)
                new = [routes or [] for _, routes in edited]
                return now, _partial(resource, now, new), sum(len(routes) for routes in new)
            hosts = tuple(host for host, _ in edited)
        else:
            hosts = tuple(split_host(value) for value in host_values)
        now = _Checked.of(resource.version, head, hosts)
    except WireError:
        return None, resource, 0
    return now, resource, sum(len(host.starts) for host in hosts)


def _edited(old: HostParts, value: bytes) -> tuple[HostParts, list[bytes] | None]:
    """``value``'s parts and its routes ``old`` lacks; None for the routes when another field changed."""
    edited = edited_host(old, value)
    if edited is not None:
        return edited
    parts = split_host(value)  # the differing bytes reach beyond the routes: read all of it
    if parts.head() != old.head():
        return parts, None
    return parts, without(parts.route_fields(), old.route_fields())


def _partial(resource: EncodedResource, parts: _Checked, routes: list[list[bytes]]) -> EncodedResource:
    hosts = [host.with_routes(fields) for host, fields in zip(parts.hosts, routes, strict=True)]
    any_bytes = string_field(1, typeurls.ROUTE) + string_field(2, join_route_config(parts.head, hosts))
    return EncodedResource.from_any_bytes(typeurls.ROUTE, resource.name, any_bytes, resource.named)
