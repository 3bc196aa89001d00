"""Model -> one snapshot per gateway, encoding each resource once and reusing what did not change."""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf.message import Message

from gitxds import ir
from gitxds.translators.xds import translate_gateway
from gitxds.xds.cache import (
    EncodedResource,
    InconsistentSnapshotError,
    Snapshot,
    SnapshotCache,
    resource_name,
)
from gitxds.xds.cache.encoding import string_field
from gitxds.xds.cache.references import references_of

_EncodingKey = tuple[str, bytes]  # (type URL, deterministic serialization)


class MemoizedTranslator:
    """Keeps the encoding of every resource of the current snapshots, keyed by its bytes.

    A resource whose serialized form did not change comes back as the very same ``EncodedResource``
    object, so its version is unchanged (no delta push) and unchanged types reuse the earlier table.
    """

    def __init__(self) -> None:
        self._by_bytes: dict[_EncodingKey, EncodedResource] = {}
        self.encoded_count = 0  # resources encoded anew, over this translator's life

    def _encode(
        self, type_url: str, message: Message, keep: dict[_EncodingKey, EncodedResource]
    ) -> EncodedResource:
        value = message.SerializeToString(deterministic=True)
        key = (type_url, value)
        encoded = self._by_bytes.get(key) or keep.get(key)
        if encoded is None:
            self.encoded_count += 1
            any_bytes = string_field(1, type_url) + string_field(2, value)
            name = resource_name(type_url, message)
            encoded = EncodedResource.from_any_bytes(
                type_url, name, any_bytes, references_of(type_url, message)
            )
        keep[key] = encoded
        return encoded

    def snapshots(
        self,
        model: ir.Model,
        secrets: Mapping[str, str],
        config_version: str,
        cache: SnapshotCache,
    ) -> dict[str, Snapshot]:
        """A consistent snapshot per gateway; raises InconsistentSnapshotError rather than publish one."""
        keep: dict[_EncodingKey, EncodedResource] = {}
        built: dict[str, Snapshot] = {}
        for gateway in model.gateways:
            resources = translate_gateway(model, gateway.name, secrets)
            encoded = {
                type_url: [self._encode(type_url, message, keep) for message in messages]
                for type_url, messages in resources.items()
            }
            snapshot = Snapshot.build(
                encoded, config_version=config_version, previous=cache.get(gateway.name)
            )
            problems = snapshot.consistent()
            if problems:
                raise InconsistentSnapshotError(problems)
            built[gateway.name] = snapshot
        self._by_bytes = keep
        return built
