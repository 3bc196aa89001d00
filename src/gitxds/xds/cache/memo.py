"""Encode each resource once: equal bytes give back the very same :class:`EncodedResource`.

Whoever builds snapshots (a full translation, an EDS-only update, an incremental translator) encodes
every resource through one memo, one resource at a time. An unchanged resource then keeps its object
and its version, so streams send nothing for it and a snapshot reuses the earlier table of a type
whose resources are all unchanged. :meth:`EncodingMemo.retire` drops what the latest build no longer
used, so the memo never pins replaced resources.

A builder that gives a whole list per snapshot and type (:meth:`EncodingMemo.snapshot` with a
``group``) is matched against the list it gave last time, in C (``map(operator.is_, ...)``): the
list of an untouched type is recognized without a Python step per resource, and a list with a few
new messages costs a lookup per resource, not a serialization.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from itertools import compress, count

from google.protobuf.message import Message

from gitxds.xds.cache.encoding import (
    EncodedResource,
    Preserialized,
    ResourceEncoder,
    field_header,
    string_field,
)
from gitxds.xds.cache.snapshot import InconsistentSnapshotError, ResourceInput, Snapshot

__all__ = ["EncodingMemo"]

_Key = tuple[str, bytes]  # (type URL, deterministic serialization)
_Listed = tuple[Sequence[ResourceInput], list[EncodedResource]]  # items as given, and encoded


class EncodingMemo:
    """Not thread-safe: one builder at a time (the writer serializes its builds)."""

    def __init__(self, encoder: ResourceEncoder | None = None) -> None:
        self.encoder = encoder or ResourceEncoder()
        self._older: dict[_Key, EncodedResource] = {}
        self._used: dict[_Key, EncodedResource] = {}
        # By message identity: a translation memo hands back the very same message for an unchanged
        # resource, which then needs no serializing to be recognized. Holds the message, so its id
        # cannot be reused while the entry lives.
        self._older_messages: dict[int, tuple[Message, _Key, EncodedResource]] = {}
        self._used_messages: dict[int, tuple[Message, _Key, EncodedResource]] = {}
        # By (group, type URL): the list given for the latest snapshot and its encodings.
        self._older_lists: dict[tuple[str, str], _Listed] = {}
        self._used_lists: dict[tuple[str, str], _Listed] = {}
        # Preserialized resources by (type URL, name): compared with the bytes last encoded.
        self._older_by_name: dict[tuple[str, str], EncodedResource] = {}
        self._used_by_name: dict[tuple[str, str], EncodedResource] = {}

    @property
    def encoded_count(self) -> int:
        """Resources serialized anew over this memo's life (reused ones are not counted)."""
        return self.encoder.encoded_count

    def encode(self, type_url: str, message: Message) -> EncodedResource:
        same = self._used_messages.get(id(message)) or self._older_messages.get(id(message))
        if same is not None and same[0] is message and same[1][0] == type_url:
            _, key, encoded = same
        else:
            value = message.SerializeToString(deterministic=True)
            key = (type_url, value)
            encoded = (
                self._used.get(key)
                or self._older.get(key)
                or self.encoder.encode_serialized(type_url, message, value)
            )
        self._used[key] = encoded
        self._used_messages[id(message)] = (message, key, encoded)
        return encoded

    def snapshot(
        self,
        resources: Mapping[str, Iterable[ResourceInput]],
        *,
        config_version: str = "",
        previous: Snapshot | None = None,
        group: str | None = None,
    ) -> Snapshot:
        """A consistent snapshot of ``resources`` (messages or encoded resources), or
        :class:`InconsistentSnapshotError`: never one that names what it lacks.

        ``group`` names whose snapshot this is: its lists are matched against its last ones. The
        lists must not be modified afterwards (the memo keeps them to compare the next ones with).
        """
        encoded = {
            type_url: self._encoded_list(group, type_url, items) for type_url, items in resources.items()
        }
        snapshot = Snapshot.build(encoded, config_version=config_version, previous=previous)
        problems = snapshot.consistent()
        if problems:
            raise InconsistentSnapshotError(problems)
        return snapshot

    def _encoded_list(
        self, group: str | None, type_url: str, items: Iterable[ResourceInput]
    ) -> list[EncodedResource]:
        if group is None:
            return [self._encoded(type_url, item) for item in items]
        given = items if isinstance(items, Sequence) else list(items)
        key = (group, type_url)
        last = self._used_lists.get(key) or self._older_lists.get(key)
        if last is None:
            encoded = [self._encoded(type_url, item) for item in given]
        elif last[0] is given or (len(last[0]) == len(given) and all(map(operator.is_, last[0], given))):
            encoded = last[1]  # the very same items: the very same encodings
        else:
            encoded = self._patched(type_url, last, given)
        self._used_lists[key] = (given, encoded)
        return encoded

    def _patched(self, type_url: str, last: _Listed, given: Sequence[ResourceInput]) -> list[EncodedResource]:
        """The encodings of ``given``, a list like the last one but for a window in the middle (a
        resource replaced, added or removed in a sorted list): the items before and after the window
        are found in C, only the window is looked at one by one."""
        items, encodings = last
        shorter = min(len(items), len(given))
        start = _same_run(items, given, shorter)
        end = min(_same_run(reversed(items), reversed(given), shorter), shorter - start)
        # The last list keeps its items alive, so their ids stand for them.
        known = dict(zip(map(id, items), encodings, strict=True))
        window = [
            known.get(id(item)) or self._encoded(type_url, item) for item in given[start : len(given) - end]
        ]
        return [*encodings[:start], *window, *encodings[len(items) - end :]]

    def _encoded(self, type_url: str, item: ResourceInput) -> EncodedResource:
        if isinstance(item, EncodedResource):
            return item
        if isinstance(item, Message):
            return self.encode(type_url, item)
        return self._preserialized(type_url, item)

    def _preserialized(self, type_url: str, item: Preserialized) -> EncodedResource:
        """Recognized by its name and bytes (a large resource: no dictionary keyed by its bytes)."""
        key = (type_url, item.name)
        last = self._used_by_name.get(key) or self._older_by_name.get(key)
        head = string_field(1, type_url) + field_header(2, len(item.value))
        if last is not None and _is_concatenation(last.any_bytes, head, item.value):
            encoded = last
        else:
            encoded = self.encoder.encode_preserialized(type_url, item)
        self._used_by_name[key] = encoded
        return encoded

    def retire(self) -> None:
        """Forget every resource not encoded since the previous call (call after each full build)."""
        self._older = self._used
        self._used = {}
        self._older_messages = self._used_messages
        self._used_messages = {}
        self._older_lists = self._used_lists
        self._used_lists = {}
        self._older_by_name = self._used_by_name
        self._used_by_name = {}


def _same_run(first: Iterable[object], second: Iterable[object], shorter: int) -> int:
    """How many leading items of the two are the very same objects (counted in C); ``shorter``: the
    length of the shorter one."""
    return next(compress(count(), map(operator.is_not, first, second)), shorter)


def _is_concatenation(whole: bytes, head: bytes, tail: bytes) -> bool:
    """``whole == head + tail`` without building ``head + tail`` (a large resource's bytes)."""
    return len(whole) == len(head) + len(tail) and whole.startswith(head) and whole.endswith(tail)
