"""An immutable, versioned set of xDS resources for one node group (one gateway)."""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from itertools import repeat
from operator import attrgetter
from typing import Any

from google.protobuf.message import Message

from gitxds import typeurls
from gitxds.errors import GitxdsError
from gitxds.hashing import content_hash
from gitxds.xds.cache.encoding import EncodedResource, ResourceEncoder
from gitxds.xds.cache.resource_set import ResourceSet

# A protobuf message, a Preserialized resource, or an EncodedResource reused from an earlier snapshot.
ResourceInput = Any


class InconsistentSnapshotError(GitxdsError):
    """A snapshot names resources it does not contain; publishing it would break proxies."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems) or "inconsistent snapshot")


class Snapshot:
    """Resources of every type, each serialized once; versions are content hashes.

    Build with :meth:`build`. ``version`` hashes every resource version, so two replicas given the same
    config agree on it; ``config_version`` is a free label (the Git commit) carried along for status.
    """

    __slots__ = ("_tables", "config_version", "version")

    def __init__(self, tables: Mapping[str, ResourceSet], config_version: str = "") -> None:
        self._tables = dict(tables)
        self.config_version = config_version
        self.version = content_hash(
            "\n".join(
                f"{type_url}\x00{self._tables[type_url].version}" for type_url in sorted(self._tables)
            ).encode()
        )

    @classmethod
    def build(
        cls,
        resources: Mapping[str, Iterable[ResourceInput]],
        *,
        config_version: str = "",
        encoder: ResourceEncoder | None = None,
        previous: Snapshot | None = None,
    ) -> Snapshot:
        """Encode ``resources`` (messages, or resources already encoded for an earlier snapshot).

        With ``previous``, a type whose encoded resources are the very same objects reuses the earlier
        table and everything memoized on it. Raises ``ValueError`` on an unknown type or a duplicate name.
        """
        encoder = encoder or ResourceEncoder()
        tables: dict[str, ResourceSet] = {}
        for type_url in typeurls.PUSH_ORDER:
            items = list(resources.get(type_url, ()))
            earlier = previous.resources(type_url) if previous is not None else None
            if earlier is not None and _same_objects(earlier, items):
                tables[type_url] = earlier
            else:
                tables[type_url] = _table(type_url, _all_encoded(encoder, type_url, items))
        unknown = set(resources) - set(typeurls.PUSH_ORDER)
        if unknown:
            raise ValueError(f"unsupported resource types: {sorted(unknown)}")
        return cls(tables, config_version)

    def resources(self, type_url: str) -> ResourceSet:
        """Every resource of one type (an empty set for a type the snapshot lacks)."""
        table = self._tables.get(type_url)
        if table is None:
            table = ResourceSet(type_url, {})
            self._tables[type_url] = table
        return table

    def with_replaced(self, type_url: str, replacements: Iterable[EncodedResource]) -> Snapshot:
        """This snapshot with the named resources of one type replaced (an EDS-only update).

        Names the snapshot lacks are ignored. Returns ``self`` when no version differs; otherwise a
        snapshot whose every other table is the very same object as in this one.
        """
        table = self.resources(type_url)
        current = table.resources
        changed = {
            r.name: r for r in replacements if r.name in current and r.version != current[r.name].version
        }
        if not changed:
            return self
        resources = {t: list(self.resources(t)) for t in typeurls.PUSH_ORDER}
        resources[type_url] = [changed.get(r.name, r) for r in table]
        return Snapshot.build(resources, config_version=self.config_version, previous=self)

    def view(self, type_url: str, names: frozenset[str] | None) -> ResourceSet:
        """What a subscription sees: everything when ``names`` is None (wildcard), else those names.

        Not memoized here: a view kept per name set would outlive the streams that asked for it (the
        server shares views between the streams subscribed to one name set instead)."""
        table = self.resources(type_url)
        return table if names is None else table.subset(names)

    def consistent(self) -> list[str]:
        """Problems that would leave a proxy naming something it cannot get; empty when consistent.

        Set operations on what each table names, which tables memoize (with the answers, by the names
        asked about): a table reused from an earlier snapshot, naming the very same names, costs
        nothing again, so a build that changed one table checks about that table only.
        """
        tables = {type_url: self.resources(type_url) for type_url in typeurls.PUSH_ORDER}
        missing = any(
            not tables[target].has_all(tables[source].named(target))
            for source in (typeurls.LISTENER, typeurls.ROUTE, typeurls.CLUSTER)
            for target in typeurls.PUSH_ORDER
            if target != typeurls.ENDPOINT
        )
        eds_names = tables[typeurls.CLUSTER].named(typeurls.ENDPOINT)
        unnamed = not tables[typeurls.ENDPOINT].within(eds_names)
        return self._problems() if missing or unnamed else []

    def _problems(self) -> list[str]:
        """Every problem, each named (the slow path, for a snapshot that has some)."""
        problems: list[str] = []
        for type_url in (typeurls.LISTENER, typeurls.ROUTE, typeurls.CLUSTER):
            for resource in self.resources(type_url):
                for reference in sorted(resource.references):
                    if reference.type_url == typeurls.ENDPOINT:
                        continue
                    if reference.name not in self.resources(reference.type_url):
                        problems.append(
                            f"{typeurls.SHORT_NAMES[type_url]} {resource.name!r} names "
                            f"{typeurls.SHORT_NAMES[reference.type_url]} {reference.name!r} "
                            "which is not in the snapshot"
                        )
        eds_names = self.resources(typeurls.CLUSTER).named(typeurls.ENDPOINT)
        for assignment in self.resources(typeurls.ENDPOINT):
            if assignment.name not in eds_names:
                problems.append(f"endpoints {assignment.name!r} belong to no EDS cluster in the snapshot")
        return problems


def _encoded(encoder: ResourceEncoder, type_url: str, item: ResourceInput) -> EncodedResource:
    if isinstance(item, EncodedResource):
        if item.type_url != type_url:
            raise ValueError(f"{item.name!r} is a {item.type_url}, listed under {type_url}")
        return item
    if isinstance(item, Message):
        return encoder.encode(type_url, item)
    return encoder.encode_preserialized(type_url, item)


def _all_encoded(
    encoder: ResourceEncoder, type_url: str, items: list[ResourceInput]
) -> list[EncodedResource]:
    """``items`` encoded; a list of resources already encoded for this type is checked in C."""
    if all(map(isinstance, items, repeat(EncodedResource))) and all(
        map(operator.eq, map(_TYPE_URL, items), repeat(type_url))
    ):
        return items
    return [_encoded(encoder, type_url, item) for item in items]


_TYPE_URL = attrgetter("type_url")


def _table(type_url: str, encoded: list[EncodedResource]) -> ResourceSet:
    table = ResourceSet.of(type_url, encoded)
    if len(table) != len(encoded):
        counts = Counter(resource.name for resource in encoded)
        duplicates = sorted(name for name, count in counts.items() if count > 1)
        raise ValueError(f"duplicate {typeurls.SHORT_NAMES[type_url]} names: {duplicates}")
    return table


def _same_objects(table: ResourceSet, items: list[ResourceInput]) -> bool:
    """``items`` are the very encoded resources of ``table``, in order (compared in C, not per item
    in Python: at fleet size most tables of a build are unchanged)."""
    return len(table) == len(items) and all(map(operator.is_, table.resources.values(), items))
