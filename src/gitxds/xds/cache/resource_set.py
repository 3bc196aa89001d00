"""An immutable set of encoded resources of one type: a snapshot's table, or the part a proxy asked for.

Streams hold references to shared ``ResourceSet`` objects instead of per-stream copies, and everything
derived from a set (its version, its SotW response body, the names it references) is computed once.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Mapping
from itertools import chain
from operator import attrgetter, methodcaller

from gitxds import typeurls
from gitxds.hashing import content_hash
from gitxds.xds.cache.encoding import EncodedResource, string_field
from gitxds.xds.cache.references import Reference

_NAME = attrgetter("name")
_NAMED = attrgetter("named")
_VERSION = attrgetter("version")
_NONE: frozenset[str] = frozenset()
_ALL_TYPES = frozenset(typeurls.PUSH_ORDER)
_FEW = 8  # resources in a table up to which named() keeps one object when they share it
_CHECKS_KEPT = 8  # names sets remembered per set (each source table asks with its own)


class ResourceSet:
    """Resources of one type by name. Never mutated after construction; derived values are memoized."""

    __slots__ = (
        "_body",
        "_checked",
        "_name_set",
        "_named",
        "_references",
        "_version",
        "_versions",
        "resources",
        "type_url",
    )

    def __init__(self, type_url: str, resources: Mapping[str, EncodedResource]) -> None:
        self.type_url = type_url
        self.resources = resources
        self._version: str | None = None
        self._versions: dict[str, str] | None = None
        self._references: frozenset[Reference] | None = None
        self._named: dict[str, frozenset[str]] = {}
        self._name_set: frozenset[str] | None = None
        self._checked: dict[tuple[bool, int], tuple[frozenset[str], bool]] = {}
        self._body: bytes | None = None

    @classmethod
    def of(cls, type_url: str, resources: Iterable[EncodedResource]) -> ResourceSet:
        listed = list(resources)
        return cls(type_url, dict(zip(map(_NAME, listed), listed, strict=True)))

    def __len__(self) -> int:
        return len(self.resources)

    def __contains__(self, name: object) -> bool:
        return name in self.resources

    def __iter__(self) -> Iterator[EncodedResource]:
        return iter(self.resources.values())

    def names(self) -> Iterable[str]:
        return self.resources.keys()

    def name_set(self) -> frozenset[str]:
        """The names of the resources in this set (a set, so subset checks need not build one)."""
        if self._name_set is None:
            self._name_set = frozenset(self.resources)
        return self._name_set

    @property
    def version(self) -> str:
        """Content hash over every (name, version): equal contents give equal versions on every replica."""
        if self._version is None:
            names = list(self.resources)
            versions = map(_VERSION, self.resources.values())
            pairs: Iterable[str] = map("\x00".join, zip(names, versions, strict=True))
            if not all(map(operator.lt, names, names[1:])):  # in name order (the usual): no sort
                pairs = sorted(pairs)
            self._version = content_hash("\n".join(pairs).encode())
        return self._version

    def versions(self) -> Mapping[str, str]:
        if self._versions is None:
            self._versions = {name: resource.version for name, resource in self.resources.items()}
        return self._versions

    def has_all(self, names: frozenset[str]) -> bool:
        """Every one of ``names`` is in this set."""
        return self._check(names, covers=True)

    def within(self, names: frozenset[str]) -> bool:
        """Every name in this set is one of ``names``."""
        return self._check(names, covers=False)

    def _check(self, names: frozenset[str], *, covers: bool) -> bool:
        """Remembered by the identity of ``names``: a snapshot reuses unchanged tables and the names
        they give, so a build checks again only what changed (a 10,000-name check is not free)."""
        key = (covers, id(names))
        known = self._checked.get(key)
        if known is not None and known[0] is names:
            return known[1]
        result = names <= self.name_set() if covers else self.name_set() <= names
        if len(self._checked) >= _CHECKS_KEPT:
            del self._checked[next(iter(self._checked))]
        self._checked[key] = (names, result)  # holds ``names``: its id stays its own
        return result

    def references(self) -> frozenset[Reference]:
        """Every resource of another type that some resource in this set names."""
        if self._references is None:
            self._references = frozenset().union(*(r.references for r in self.resources.values()))
        return self._references

    def named(self, type_url: str) -> frozenset[str]:
        """The names of resources of ``type_url`` that some resource in this set names."""
        names = self._named.get(type_url)
        if names is None and len(self.resources) > _FEW and not self._named:
            # One pass in C for the types named at all: most tables name one type or none.
            for absent in _ALL_TYPES - set(chain.from_iterable(map(_NAMED, self.resources.values()))):
                self._named[absent] = _NONE
            names = self._named.get(type_url)
        if names is None:
            named = map(methodcaller("get", type_url, _NONE), map(_NAMED, self.resources.values()))
            if len(self.resources) > _FEW:
                names = frozenset(chain.from_iterable(named))  # in C: a table of 10,000 clusters
            else:
                # Distinct objects only: the route configurations of a gateway's listeners share theirs.
                parts = {id(each): each for each in named if each}
                names = next(iter(parts.values())) if len(parts) == 1 else frozenset().union(*parts.values())
            self._named[type_url] = names
        return names

    def sotw_body(self) -> bytes:
        """A ``DiscoveryResponse`` without its nonce: resources, version_info and type_url fields."""
        if self._body is None:
            parts: list[bytes] = []
            for resource in self.resources.values():
                parts.append(resource.sotw_prefix)
                parts.append(resource.any_bytes)
            parts.append(string_field(1, self.version))
            parts.append(string_field(4, self.type_url))
            self._body = b"".join(parts)
        return self._body

    def subset(self, names: Iterable[str]) -> ResourceSet:
        """The resources among ``names`` that exist, sorted by name (the same order on every replica)."""
        available = self.resources
        chosen = {name: available[name] for name in sorted(name for name in names if name in available)}
        return ResourceSet(self.type_url, chosen)

    def with_extra(self, extra: Iterable[EncodedResource]) -> ResourceSet:
        """This set plus resources kept from an older set (make before break)."""
        merged = dict(self.resources)
        for resource in extra:
            merged.setdefault(resource.name, resource)
        return ResourceSet(self.type_url, merged)


def delta_changes(
    known: Mapping[str, str], desired: ResourceSet, forced: Iterable[str] = ()
) -> tuple[list[EncodedResource], list[str]]:
    """What a delta client that has ``known`` (name -> version) needs to reach ``desired``.

    ``forced`` names are answered even when unchanged (a re-subscribe) and, when they do not exist,
    reported as removed so the client stops waiting for them.
    """
    wanted = desired.resources
    changed = [resource for name, resource in wanted.items() if known.get(name) != resource.version]
    removed = [name for name in known if name not in wanted]
    changed_names = {resource.name for resource in changed}
    removed_names = set(removed)
    for name in forced:
        if name in wanted:
            if name not in changed_names:
                changed.append(wanted[name])
                changed_names.add(name)
        elif name not in removed_names:
            removed.append(name)
            removed_names.add(name)
    return changed, removed
