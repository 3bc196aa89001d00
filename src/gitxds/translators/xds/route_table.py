"""A gateway's virtual hosts kept in order across builds, encoded from each route's bytes.

:func:`.routes.virtual_hosts_for` sorts every rule's Envoy routes per virtual host on each call. Here
each virtual host keeps its routes sorted with their serialized bytes: a changed route is taken out
and put back by binary search, and the RouteConfiguration is assembled at the protobuf wire level
(a repeated message field is a tag, a varint length and the message's bytes; deterministic
serialization writes fields in field-number order), byte for byte what serializing the message
:func:`.routes.route_configuration_for` builds gives.

Order: :func:`.routes._specificity` first; ties keep the order the cold build gives them, which is
the order the rules appear in: a virtual host's own routes, then those accepting any host, each in
model order. A route of the model carries a ``label`` that grows with its position in the model, so
an insertion elsewhere does not renumber it (see :mod:`.incremental`).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field

from envoy.config.route.v3.route_pb2 import RouteConfiguration

from gitxds.protowire import field_header, string_field
from gitxds.translators.xds.routes import ANY_HOST, backend_header_option

__all__ = ["EncodedRoute", "Parts", "RouteTable", "SortKey", "route_configuration_tail"]

SortKey = tuple[tuple[int, int, int], int, int, int, int]  # specificity, group, label, rule, match
OWN, ANY = 0, 1  # groups: a host's own routes come before those accepting any host, at equal specificity


@dataclass(frozen=True, slots=True)
class EncodedRoute:
    """One Envoy route of a rule: its specificity, where it stands in its route, and its bytes framed
    as an entry of ``VirtualHost.routes``."""

    specificity: tuple[int, int, int]
    rule: int
    match: int
    chunk: bytes


@dataclass(slots=True)
class _Host:
    keys: list[SortKey] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    encoded: bytes | None = None  # the VirtualHost's bytes, until a route in it changes

    def insert(self, key: SortKey, chunk: bytes) -> None:
        index = bisect_left(self.keys, key)
        self.keys.insert(index, key)
        self.chunks.insert(index, chunk)
        self.encoded = None

    def remove(self, key: SortKey) -> None:
        index = bisect_left(self.keys, key)
        if index == len(self.keys) or self.keys[index] != key:
            raise KeyError(key)
        del self.keys[index]
        del self.chunks[index]
        self.encoded = None

    def bytes_for(self, name: str) -> bytes:
        if self.encoded is None:
            # VirtualHost{name=1, domains=2, routes=3}
            self.encoded = string_field(1, name) + string_field(2, name) + b"".join(self.chunks)
        return self.encoded


Parts = tuple[tuple[str, tuple[bytes, ...]], ...]
"""A RouteConfiguration's virtual hosts in order, each with its routes' framed bytes in order."""


class RouteTable:
    """The virtual hosts of one gateway's route configurations. One build at a time."""

    def __init__(self) -> None:
        self._hosts: dict[str, _Host] = {}  # by hostname; ANY_HOST for the routes accepting any host
        self._hostname_routes: dict[str, int] = {}  # routes naming each hostname
        self._any_host: dict[int, tuple[EncodedRoute, ...]] = {}  # by label: routes accepting any host

    def add(
        self, label: int, hostnames: Iterable[str], any_host: bool, routes: tuple[EncodedRoute, ...]
    ) -> None:
        """The Envoy routes of one model route, naming ``hostnames`` (without ANY_HOST)."""
        for hostname in hostnames:
            count = self._hostname_routes.get(hostname, 0)
            self._hostname_routes[hostname] = count + 1
            if not count:
                self._hosts[hostname] = self._new_host()
            self._insert(hostname, OWN, label, routes)
        if any_host and routes:
            self._any_host[label] = routes
            self._hosts.setdefault(ANY_HOST, _Host())
            for hostname in self._hosts:
                self._insert(hostname, ANY, label, routes)

    def remove(
        self, label: int, hostnames: Iterable[str], any_host: bool, routes: tuple[EncodedRoute, ...]
    ) -> None:
        """Undo :meth:`add` with the same arguments."""
        if any_host and routes:
            del self._any_host[label]
            for hostname in self._hosts:
                host = self._hosts[hostname]
                for route in routes:
                    host.remove(_key(route, ANY, label))
            if not self._any_host:
                del self._hosts[ANY_HOST]
        for hostname in hostnames:
            count = self._hostname_routes.pop(hostname) - 1
            if count:
                self._hostname_routes[hostname] = count
                host = self._hosts[hostname]
                for route in routes:
                    host.remove(_key(route, OWN, label))
            else:
                del self._hosts[hostname]

    def parts(self) -> Parts:
        """Virtual hosts in the cold build's order: hostnames sorted, then the one for any host."""
        names = sorted(name for name in self._hosts if name != ANY_HOST)
        if ANY_HOST in self._hosts:
            names.append(ANY_HOST)
        return tuple((name, tuple(self._hosts[name].chunks)) for name in names)

    def encode(self, name: str, tail: bytes) -> bytes:
        """The RouteConfiguration ``name`` holding these virtual hosts, ``tail`` its other fields (after
        ``virtual_hosts`` in field order): what ``route_configuration_for`` serializes to."""
        names = sorted(host for host in self._hosts if host != ANY_HOST)
        if ANY_HOST in self._hosts:
            names.append(ANY_HOST)
        pieces = [string_field(1, name)]  # RouteConfiguration{name=1, virtual_hosts=2, ...}
        for host in names:
            encoded = self._hosts[host].bytes_for(host)
            pieces += (field_header(2, len(encoded)), encoded)
        pieces.append(tail)
        return b"".join(pieces)

    def _new_host(self) -> _Host:
        """A hostname's virtual host, holding the routes accepting any host to begin with."""
        pairs = sorted(
            (_key(route, ANY, label), route.chunk)
            for label, routes in self._any_host.items()
            for route in routes
        )
        return _Host([key for key, _ in pairs], [chunk for _, chunk in pairs])

    def _insert(self, hostname: str, group: int, label: int, routes: tuple[EncodedRoute, ...]) -> None:
        host = self._hosts[hostname]
        for route in routes:
            host.insert(_key(route, group, label), route.chunk)

    @classmethod
    def of(cls, routes: Iterable[tuple[int, Iterable[str], bool, tuple[EncodedRoute, ...]]]) -> RouteTable:
        """A table of many routes at once: one sort per host instead of an insertion per route."""
        table = cls()
        pending: dict[str, list[tuple[SortKey, bytes]]] = {}
        owned: list[tuple[int, tuple[str, ...], tuple[EncodedRoute, ...]]] = []
        for label, hostnames, any_host, encoded in routes:
            names = tuple(hostnames)
            for hostname in names:
                table._hostname_routes[hostname] = table._hostname_routes.get(hostname, 0) + 1
            owned.append((label, names, encoded))
            if any_host and encoded:
                table._any_host[label] = encoded
        hosts = [*table._hostname_routes, *([ANY_HOST] if table._any_host else [])]
        for hostname in hosts:
            pending[hostname] = [
                (_key(route, ANY, label), route.chunk)
                for label, encoded in table._any_host.items()
                for route in encoded
            ]
        for label, names, encoded in owned:
            for hostname in names:
                pending[hostname] += [(_key(route, OWN, label), route.chunk) for route in encoded]
        for hostname, pairs in pending.items():
            pairs.sort()
            table._hosts[hostname] = _Host([key for key, _ in pairs], [chunk for _, chunk in pairs])
        return table


def _key(route: EncodedRoute, group: int, label: int) -> SortKey:
    return (route.specificity, group, label, route.rule, route.match)


def route_configuration_tail() -> bytes:
    """The fields of every RouteConfiguration after its virtual hosts (as serialized)."""
    tail = RouteConfiguration(response_headers_to_add=[backend_header_option()])
    value: bytes = tail.SerializeToString(deterministic=True)
    return value
