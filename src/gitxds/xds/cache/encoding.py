"""Serialize each xDS resource once per version and keep the bytes every stream shares.

An :class:`EncodedResource` carries the resource as ``google.protobuf.Any`` wire bytes plus the few
bytes that frame it inside a SotW or a delta response, so the server builds a response by joining
bytes instead of serializing messages per stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any as AnyType
from typing import Protocol

from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment
from envoy.config.listener.v3.listener_pb2 import Listener
from envoy.config.route.v3.route_pb2 import RouteConfiguration
from envoy.extensions.transport_sockets.tls.v3.secret_pb2 import Secret
from google.protobuf.message import Message

from gitxds import typeurls
from gitxds.hashing import content_hash
from gitxds.protowire import field_header, string_field
from gitxds.xds.cache.references import Named, Reference, named_of

__all__ = [
    "EncodedResource",
    "Preserialized",
    "ResourceEncoder",
    "decode",
    "decode_any",
    "field_header",
    "resource_name",
    "string_field",
]


def resource_name(type_url: str, message: Message) -> str:
    """The xDS name of a resource: ``cluster_name`` for endpoints, ``name`` for everything else."""
    if type_url == typeurls.ENDPOINT:
        return str(getattr(message, "cluster_name"))  # noqa: B009 - protobuf fields are dynamic
    return str(getattr(message, "name"))  # noqa: B009


class Preserialized(Protocol):
    """A resource its builder serialized itself (deterministically), with what it names.

    The builder of a large resource assembles its bytes from parts it keeps (a RouteConfiguration of
    10,000 routes from each route's bytes), so the cache takes the bytes as they are. ``parts`` is
    whatever the builder exposes of them; the cache keeps it on the encoded resource."""

    @property
    def name(self) -> str: ...

    @property
    def value(self) -> bytes: ...

    @property
    def named(self) -> Named: ...

    @property
    def parts(self) -> object: ...


@dataclass(frozen=True, slots=True, eq=False)
class EncodedResource:
    """One resource at one version, serialized once and shared by every stream and snapshot.

    ``sotw_prefix + any_bytes`` is the resource as an entry of ``DiscoveryResponse.resources``;
    ``delta_prefix + any_bytes`` is the same as an entry of ``DeltaDiscoveryResponse.resources``.
    ``named`` holds the other resources this one names, by type URL (a route's clusters, a listener's
    route configuration, a cluster's EDS name), used for consistency checks and make-before-break.
    ``parts``: what a builder that serialized the resource itself exposes of its parts, else None.
    """

    type_url: str
    name: str
    version: str
    any_bytes: bytes
    named: Mapping[str, frozenset[str]]
    sotw_prefix: bytes
    delta_prefix: bytes
    parts: object = None

    @property
    def references(self) -> frozenset[Reference]:
        """``named`` as references (the slow paths ask: problems of an inconsistent snapshot)."""
        return frozenset(
            Reference(type_url, name) for type_url, names in self.named.items() for name in names
        )

    @classmethod
    def from_any_bytes(
        cls,
        type_url: str,
        name: str,
        any_bytes: bytes,
        named: Named | None = None,
        parts: object = None,
    ) -> EncodedResource:
        version = content_hash(any_bytes)
        # Resource{name=3, version=1, resource=2 (Any)}; the Any payload itself follows the prefix.
        resource_head = string_field(3, name) + string_field(1, version) + field_header(2, len(any_bytes))
        delta_prefix = field_header(2, len(resource_head) + len(any_bytes)) + resource_head
        return cls(
            type_url=type_url,
            name=name,
            version=version,
            any_bytes=any_bytes,
            named=named or {},
            sotw_prefix=field_header(2, len(any_bytes)),
            delta_prefix=delta_prefix,
            parts=parts,
        )


class ResourceEncoder:
    """Turns protobuf messages into :class:`EncodedResource` values and counts how often it did.

    The counter lets tests prove that a change is serialized once, not once per connected proxy.
    """

    def __init__(self) -> None:
        self.encoded_count = 0

    def encode(self, type_url: str, message: Message) -> EncodedResource:
        return self.encode_serialized(type_url, message, message.SerializeToString(deterministic=True))

    def encode_serialized(self, type_url: str, message: Message, value: bytes) -> EncodedResource:
        """Like :meth:`encode`, for a message already serialized (deterministically) as ``value``."""
        self._check(type_url)
        any_bytes = string_field(1, type_url) + string_field(2, value)
        return EncodedResource.from_any_bytes(
            type_url, resource_name(type_url, message), any_bytes, named_of(type_url, message)
        )

    def encode_preserialized(self, type_url: str, item: Preserialized) -> EncodedResource:
        """Like :meth:`encode`, for a resource its builder serialized (see :class:`Preserialized`)."""
        self._check(type_url)
        any_bytes = string_field(1, type_url) + string_field(2, item.value)
        return EncodedResource.from_any_bytes(type_url, item.name, any_bytes, item.named, item.parts)

    def _check(self, type_url: str) -> None:
        if type_url not in typeurls.SHORT_NAMES:
            raise ValueError(f"unsupported resource type {type_url}")
        self.encoded_count += 1


def decode(encoded: EncodedResource) -> Message:
    """The message an encoded resource holds (for dumps of what is being served)."""
    message: Message = decode_any(encoded, _MESSAGE_CLASSES[encoded.type_url])
    return message


_MESSAGE_CLASSES: dict[str, type[Message]] = {
    typeurls.LISTENER: Listener,
    typeurls.ROUTE: RouteConfiguration,
    typeurls.CLUSTER: Cluster,
    typeurls.ENDPOINT: ClusterLoadAssignment,
    typeurls.SECRET: Secret,
}


def decode_any(encoded: EncodedResource, message_class: type[AnyType]) -> AnyType:
    """Parse an encoded resource back into its message (for tests and debugging)."""
    from google.protobuf import any_pb2

    wrapper = any_pb2.Any.FromString(encoded.any_bytes)
    message = message_class()
    wrapper.Unpack(message)
    return message
