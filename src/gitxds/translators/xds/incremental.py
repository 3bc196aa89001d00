"""Translate a gateway again in time proportional to what changed: serve's builds.

Identity is the change signal. The incremental compile hands back the very same IR object for
everything that did not change (immutable values: the same object means the same meaning), so a
gateway's :class:`GatewayState` remembers the ``model.routes`` it last saw and, per route on the
gateway, its Envoy routes as bytes and its share of the gateway's counts (:mod:`.route_uses`). A build:

1. diffs ``model.routes`` with the last tuple by identity, in C (``map(is_not, ...)``). A route
   replaced in place keeps the position label of the one it replaces; added routes get labels
   between their neighbours' (labels only order ties, see :mod:`.route_table`); a reorder of routes
   that were there before, or a model holding one route object twice, starts over.
2. takes removed routes out of the counts and the route table, and puts added routes' uses in.
3. builds the filter plan from the counts. When the plan, the secret values or the backends' hashOn
   headers differ from the last build (every Envoy route depends on them) every route is encoded
   again (the cold cost, for a rare change); else only the added routes are.
4. assembles each listener's RouteConfiguration from the table's bytes (:class:`RouteConfigurationBytes`,
   which the encoding cache takes as it is, and decodes only when someone needs the message).
5. hands back the very same cluster and endpoint lists while the backends, the set of backends routed
   to, the gRPC service backends, the secrets and the discovered endpoints are unchanged; else builds
   them again, reusing each backend's resources while its object is the same.

Anything raised midway (an unknown secret) drops the state, so the next build starts over. Gateways
whose rules read the model from the request body are translated cold (their extra routes group
rules across routes); so are builds without a memo (render, the cold comparison in tests).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, partial
from itertools import compress, count, repeat
from operator import attrgetter
from typing import Any, TypeVar, cast

from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment
from envoy.config.route.v3.route_pb2 import RouteConfiguration
from google.protobuf.message import Message

from gitxds import ir, typeurls
from gitxds.protowire import field_header
from gitxds.translators.xds.backend_resources import BackendResources
from gitxds.translators.xds.endpoints import DiscoveredEndpoints
from gitxds.translators.xds.filters import FilterPlan
from gitxds.translators.xds.gateway import by_name, gateway_secrets, translate_gateway
from gitxds.translators.xds.listeners import listener_for, route_configuration_name
from gitxds.translators.xds.memo import TranslationMemo
from gitxds.translators.xds.route_table import EncodedRoute, Parts, RouteTable, route_configuration_tail
from gitxds.translators.xds.route_uses import Counts, RouteUses, uses_of
from gitxds.translators.xds.routes import ANY_HOST, routes_for, specificity
from gitxds.translators.xds.secrets import SecretValues

__all__ = ["GatewayState", "RouteConfigurationBytes", "as_messages", "translate_incrementally"]

V = TypeVar("V")
_NAME = attrgetter("name")
GAP = 1 << 32  # between the labels of neighbouring routes when labels are handed out afresh
_TAIL = route_configuration_tail()


def translate_incrementally(
    model: ir.Model,
    gateway: str,
    secrets: Mapping[str, str] | None,
    discovered: DiscoveredEndpoints | None,
    memo: TranslationMemo,
) -> dict[str, list[Any]]:
    """What ``translate_gateway`` gives, with route configurations as :class:`RouteConfigurationBytes`,
    in time proportional to what changed since the last call with ``memo``."""
    for gone in set(memo.states) - {g.name for g in model.gateways}:
        del memo.states[gone]
    state = memo.states.setdefault(gateway, GatewayState())
    resources = state.translate(model, gateway, SecretValues.of(secrets), discovered)
    if resources is None:
        return translate_gateway(model, gateway, secrets, discovered, memo=memo)
    return resources


@dataclass(frozen=True, slots=True, eq=False)
class RouteConfigurationBytes:
    """A RouteConfiguration serialized from its parts (what the encoding cache calls Preserialized).

    ``parts``: its virtual hosts in order, each with its routes' bytes (framed as entries of
    ``VirtualHost.routes``) in order, for whoever wants to send fewer than all of them."""

    name: str
    value: bytes
    named: Mapping[str, frozenset[str]]
    parts: Parts

    def message(self) -> RouteConfiguration:
        return RouteConfiguration.FromString(self.value)


def as_messages(resources: Mapping[str, Sequence[Any]]) -> dict[str, list[Message]]:
    """``resources`` with every :class:`RouteConfigurationBytes` decoded into its message."""
    return {
        type_url: [item.message() if isinstance(item, RouteConfigurationBytes) else item for item in items]
        for type_url, items in resources.items()
    }


@dataclass(slots=True)
class _Entry:
    """One model route on this gateway."""

    route: ir.Route
    label: int
    hostnames: tuple[str, ...]  # distinct, without ANY_HOST
    any_host: bool
    uses: RouteUses
    encoded: tuple[EncodedRoute, ...] = ()


class _Backends:
    """What the translation reads off ``model.backends`` as a whole, computed once per tuple."""

    def __init__(self, backends: tuple[ir.Backend, ...]) -> None:
        self.backends = backends

    def same(self, backends: tuple[ir.Backend, ...]) -> bool:
        mine = self.backends
        return mine is backends or (len(mine) == len(backends) and all(map(operator.is_, mine, backends)))

    @cached_property
    def by_name(self) -> dict[str, ir.Backend]:
        return dict(zip(map(_NAME, self.backends), self.backends, strict=True))

    @cached_property
    def hash_on(self) -> dict[str, str]:
        headers = list(map(attrgetter("hash_on_header"), self.backends))  # in C: 10,000 backends
        return dict(compress(zip(map(_NAME, self.backends), headers, strict=True), headers))

    @cached_property
    def openai(self) -> frozenset[str]:
        apis = map(attrgetter("api"), self.backends)
        return frozenset(
            compress(map(_NAME, self.backends), map(operator.is_, apis, repeat(ir.BackendApi.OPENAI)))
        )


@dataclass(slots=True)
class _Changes:
    removed: list[int]  # positions in the last routes
    added: list[int]  # positions in the new routes
    kept: list[int | None] | None  # each new position's last position (None: added); None: in place
    labels: list[int]  # labels of the new positions


class GatewayState:
    """One gateway's translation, kept between builds. One build at a time."""

    def __init__(self) -> None:
        self.built = 0  # Envoy routes built (not reused) in the last build
        self._reset()

    def _reset(self) -> None:
        self._routes: tuple[ir.Route, ...] | None = None  # None: nothing to build on
        self._positions: dict[int, int] = {}  # id(route) -> position in _routes
        self._labels: list[int] = []
        self._entries: list[_Entry | None] = []  # by position; None for routes of other gateways
        self._backends: _Backends | None = None
        self._table = RouteTable()
        self._route_inputs: Hashable = None
        self._counts = _GatewayCounts()
        self._outputs: dict[str, tuple[object, Any]] = {}  # per output: what it was built from, and it
        self._clusters = BackendResources()

    def translate(
        self, model: ir.Model, gateway: str, secrets: SecretValues, discovered: DiscoveredEndpoints | None
    ) -> dict[str, list[Any]] | None:
        """The gateway's resources (see ``translate_gateway``), or None when it must be translated cold."""
        try:
            return self._translate(model, model.gateway(gateway), secrets, discovered)
        except BaseException:
            self._reset()  # half-updated: start over next time
            raise

    def _translate(
        self,
        model: ir.Model,
        gateway: ir.Gateway,
        secrets: SecretValues,
        discovered: DiscoveredEndpoints | None,
    ) -> dict[str, list[Any]] | None:
        self.built = 0
        if self._backends is None or not self._backends.same(model.backends):
            self._backends = _Backends(model.backends)
        backends = self._backends
        changes = self._changes(model.routes) if self._routes is not None else None
        added = self._apply(model.routes, changes, gateway.name)
        plan = self._counts.plan(model, gateway, backends.openai)
        if plan.model_body_limit is not None:
            self._reset()
            return None
        route_inputs = (plan, secrets, backends.hash_on)
        table_changed = changes is None or bool(added or changes.removed)
        if changes is None or route_inputs != self._route_inputs:
            table_changed = True
            for entry in self._entries:
                if entry is not None:
                    entry.encoded = self._encode(entry.route, plan, backends.hash_on, secrets)
            self._table = RouteTable.of(
                (e.label, e.hostnames, e.any_host, e.encoded) for e in self._entries if e is not None
            )
            self._route_inputs = route_inputs
        else:
            for entry in added:
                entry.encoded = self._encode(entry.route, plan, backends.hash_on, secrets)
                self._table.add(entry.label, entry.hostnames, entry.any_host, entry.encoded)
        clusters, endpoints = self._clusters_and_endpoints(gateway, plan, secrets, discovered)
        return {
            typeurls.LISTENER: self._output(
                "listeners",
                (gateway, plan),
                lambda: by_name(listener_for(gateway, lst, plan) for lst in gateway.listeners),
            ),
            typeurls.ROUTE: self._route_configurations(gateway, table_changed),
            typeurls.CLUSTER: clusters,
            typeurls.ENDPOINT: endpoints,
            typeurls.SECRET: self._output(
                "secrets", (gateway, secrets), lambda: gateway_secrets(gateway, secrets)
            ),
        }

    # -- which routes changed -------------------------------------------------------------------

    def _changes(self, routes: tuple[ir.Route, ...]) -> _Changes | None:
        """How ``routes`` differ from the last ones, or None to start over."""
        last = self._routes
        assert last is not None
        if len(self._positions) != len(last):
            return None  # one route object twice: positions by identity cannot tell them apart
        if routes is last:
            return _Changes([], [], None, self._labels)
        if len(routes) == len(last):
            changed = list(compress(range(len(routes)), map(operator.is_not, last, routes)))
            ids = {id(routes[i]) for i in changed}
            if len(ids) == len(changed) and ids.isdisjoint(self._positions):
                return _Changes(changed, changed, None, self._labels)  # replaced in place
        return self._moved(routes)

    def _moved(self, routes: tuple[ir.Route, ...]) -> _Changes | None:
        """Routes inserted or removed: the others must keep their order (else start over)."""
        kept = list(map(self._positions.get, map(id, routes)))  # in C, like the rest of this
        survivors = cast("list[int]", list(filter(partial(operator.is_not, None), kept)))
        if len(set(map(id, routes))) != len(routes) or any(map(operator.ge, survivors, survivors[1:])):
            return None
        removed = sorted(set(range(len(self._labels))) - set(survivors))
        labels: list[int | None] = list(map(_getter(dict(enumerate(self._labels))), kept))
        added = list(compress(count(), map(operator.is_, kept, repeat(None))))
        if not _fill_labels(labels, added):
            return None
        return _Changes(removed, added, kept, labels)  # type: ignore[arg-type] # filled

    def _apply(self, routes: tuple[ir.Route, ...], changes: _Changes | None, gateway: str) -> list[_Entry]:
        """The routes' entries after ``changes``; returns those added (to be encoded)."""
        if changes is None:
            labels = [index * GAP for index in range(len(routes))]
            changes = _Changes([], list(range(len(routes))), [None] * len(routes), labels)
            self._entries = [None] * len(routes)
            self._counts = _GatewayCounts()
            self._table = RouteTable()
        for position in changes.removed:
            entry = self._entries[position]
            if entry is not None:
                self._counts.remove(entry.uses)
                self._table.remove(entry.label, entry.hostnames, entry.any_host, entry.encoded)
        if changes.kept is not None:
            entries = self._entries
            self._entries = list(map(_getter(dict(enumerate(entries))), changes.kept))
            self._positions = dict(zip(map(id, routes), range(len(routes)), strict=True))
        else:
            for position in changes.added:
                del self._positions[id(self._routes[position])]  # type: ignore[index]
                self._positions[id(routes[position])] = position
        added = []
        for position in changes.added:
            route = routes[position]
            entry = None
            if gateway in route.gateways:
                entry = _entry(route, changes.labels[position])
                self._counts.add(entry.uses)
                added.append(entry)
            self._entries[position] = entry
        self._routes = routes
        self._labels = changes.labels
        return added

    def _encode(
        self, route: ir.Route, plan: FilterPlan, hash_on: Mapping[str, str], secrets: SecretValues
    ) -> tuple[EncodedRoute, ...]:
        encoded = []
        for rule_index, rule in enumerate(route.rules):
            envoy_routes = routes_for(rule, plan, _hash_headers(rule, hash_on), secrets)
            self.built += len(envoy_routes)
            matches = rule.matches or (ir.Match(),)
            for match_index, (match, envoy_route) in enumerate(zip(matches, envoy_routes, strict=True)):
                value = envoy_route.SerializeToString(deterministic=True)
                chunk = field_header(3, len(value)) + value  # VirtualHost.routes = 3
                encoded.append(EncodedRoute(specificity(match), rule_index, match_index, chunk))
        return tuple(encoded)

    # -- outputs --------------------------------------------------------------------------------

    def _output(self, kind: str, inputs: object, make: Any) -> Any:
        """``make()``, or what it gave last time for equal ``inputs`` (the very same object)."""
        last = self._outputs.get(kind)
        if last is not None and last[0] == inputs:
            return last[1]
        value = make()
        self._outputs[kind] = (inputs, value)
        return value

    def _route_configurations(self, gateway: ir.Gateway, changed: bool) -> list[RouteConfigurationBytes]:
        names = tuple(sorted({route_configuration_name(gateway.name, lst) for lst in gateway.listeners}))
        if changed:
            self._outputs.pop("routes", None)
        counts = self._counts.clusters
        if counts.changed:
            self._outputs.pop("named", None)
        named = self._output("named", None, lambda: {typeurls.CLUSTER: frozenset(counts.counts)})
        counts.settle()

        def make() -> list[RouteConfigurationBytes]:
            parts = self._table.parts()
            return [
                RouteConfigurationBytes(name, self._table.encode(name, _TAIL), named, parts) for name in names
            ]

        return self._output("routes", names, make)  # type: ignore[no-any-return]

    def _clusters_and_endpoints(
        self,
        gateway: ir.Gateway,
        plan: FilterPlan,
        secrets: SecretValues,
        discovered: DiscoveredEndpoints | None,
    ) -> tuple[list[Cluster], list[ClusterLoadAssignment]]:
        grpc = {policy.ext_authz.backend for policy in plan.auth_policies}
        grpc.update(p.service.backend for p in plan.rate_limit_policies if p.service is not None)
        if gateway.tracing is not None:
            grpc.add(gateway.tracing.collector)
        counts = self._counts
        if counts.routed.changed or counts.fallbacks.changed:
            self._outputs.pop("clusters", None)
        counts.routed.settle()
        counts.fallbacks.settle()
        inputs = (self._backends, frozenset(grpc), secrets, dict(discovered or {}))
        assert self._backends is not None
        backends = self._backends
        return self._output(  # type: ignore[no-any-return]
            "clusters",
            inputs,
            lambda: self._clusters.build(
                backends.by_name,
                set(counts.routed.counts) | grpc,
                grpc,
                counts.fallbacks.counts,
                secrets=secrets,
                discovered=discovered,
            ),
        )


def _getter(values: dict[int, V]) -> Callable[[int | None], V | None]:
    """``values.get`` for keys that may be None (mapped in C)."""
    return cast("Callable[[int | None], V | None]", values.get)


def _entry(route: ir.Route, label: int) -> _Entry:
    hostnames = tuple(sorted(set(route.hostnames) - {ANY_HOST}))
    any_host = not route.hostnames or ANY_HOST in route.hostnames
    return _Entry(route, label, hostnames, any_host, uses_of(route))


def _hash_headers(rule: ir.Rule, hash_on: Mapping[str, str]) -> tuple[str, ...]:
    """``hash_headers_for`` from the backends' hashOn headers (usually none)."""
    if not hash_on:
        return ()
    names = [b.backend for b in rule.backends] + list(rule.fallback)
    return tuple(sorted({hash_on[name] for name in names if name in hash_on}))


def _fill_labels(labels: list[int | None], added: list[int]) -> bool:
    """Labels for the ``added`` positions, evenly between their neighbours'; False when none fit."""
    index = 0
    while index < len(added):
        start = end = added[index]
        while index + 1 < len(added) and added[index + 1] == end + 1:
            index += 1
            end = added[index]
        index += 1
        count = end - start + 1
        before = labels[start - 1] if start > 0 else None
        after = labels[end + 1] if end + 1 < len(labels) else None
        if before is None:
            before = -GAP if after is None else after - GAP * (count + 1)
        if after is None:
            after = before + GAP * (count + 1)
        step = (after - before) // (count + 1)
        if step < 1:
            return False
        for offset in range(count):
            labels[start + offset] = before + step * (offset + 1)
    return True


_COUNTED = ("auth", "rate_limits", "targets", "routed", "fallbacks", "clusters")  # sets of names, counted


@dataclass(slots=True)
class _GatewayCounts:
    """The uses of every route on a gateway, summed."""

    auth: Counts[str] = field(default_factory=Counts)
    rate_limits: Counts[str] = field(default_factory=Counts)
    targets: Counts[str] = field(default_factory=Counts)
    routed: Counts[str] = field(default_factory=Counts)
    fallbacks: Counts[tuple[str, tuple[str, ...]]] = field(default_factory=Counts)
    clusters: Counts[str] = field(default_factory=Counts)
    faults: int = 0
    model_readers: int = 0

    def add(self, uses: RouteUses) -> None:
        for name in _COUNTED:
            getattr(self, name).add(getattr(uses, name))
        self.faults += uses.faults
        self.model_readers += uses.model_readers

    def remove(self, uses: RouteUses) -> None:
        for name in _COUNTED:
            getattr(self, name).remove(getattr(uses, name))
        self.faults -= uses.faults
        self.model_readers -= uses.model_readers

    def plan(self, model: ir.Model, gateway: ir.Gateway, openai: frozenset[str]) -> FilterPlan:
        """What ``filter_plan_for`` gives for the rules counted."""
        return FilterPlan(
            fault=self.faults > 0,
            auth_policies=tuple(model.auth_policy(name) for name in sorted(self.auth.counts)),
            rate_limit_policies=tuple(
                model.rate_limit_policy(name) for name in sorted(self.rate_limits.counts)
            ),
            tracing=gateway.tracing is not None,
            model_body_limit=gateway.model_body_limit if self.model_readers else None,
            openai_backends=frozenset(name for name in openai if name in self.targets.counts),
        )
