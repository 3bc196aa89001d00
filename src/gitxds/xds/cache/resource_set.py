"""An immutable set of encoded resources of one type: a snapshot's table, or the part a proxy asked for.

Streams hold references to shared ``ResourceSet`` objects instead of per-stream copies, and everything
derived from a set (its version, its SotW response body, the names it references) is computed once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from gitxds.hashing import content_hash
from gitxds.xds.cache.encoding import EncodedResource, string_field
from gitxds.xds.cache.references import Reference


class ResourceSet:
    """Resources of one type by name. Never mutated after construction; derived values are memoized."""

    __slots__ = ("_body", "_named", "_references", "_version", "_versions", "resources", "type_url")

    def __init__(self, type_url: str, resources: Mapping[str, EncodedResource]) -> None:
        self.type_url = type_url
        self.resources = resources
        self._version: str | None = None
        self._versions: dict[str, str] | None = None
        self._references: frozenset[Reference] | None = None
        self._named: dict[str, frozenset[str]] = {}
        self._body: bytes | None = None

    @classmethod
    def of(cls, type_url: str, resources: Iterable[EncodedResource]) -> ResourceSet:
        return cls(type_url, {resource.name: resource for resource in resources})

    def __len__(self) -> int:
        return len(self.resources)

    def __contains__(self, name: object) -> bool:
        return name in self.resources

    def __iter__(self) -> Iterator[EncodedResource]:
        return iter(self.resources.values())

    def names(self) -> Iterable[str]:
        return self.resources.keys()

    @property
    def version(self) -> str:
        """Content hash over every (name, version): equal contents give equal versions on every replica."""
        if self._version is None:
            pairs = sorted(f"{name}\x00{resource.version}" for name, resource in self.resources.items())
            self._version = content_hash("\n".join(pairs).encode())
        return self._version

    def versions(self) -> Mapping[str, str]:
        if self._versions is None:
            self._versions = {name: resource.version for name, resource in self.resources.items()}
        return self._versions

    def references(self) -> frozenset[Reference]:
        """Every resource of another type that some resource in this set names."""
        if self._references is None:
            self._references = frozenset().union(*(r.references for r in self.resources.values()))
        return self._references

    def named(self, type_url: str) -> frozenset[str]:
        """The names of resources of ``type_url`` that some resource in this set names."""
        names = self._named.get(type_url)
        if names is None:
            names = frozenset(r.name for r in self.references() if r.type_url == type_url)
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
