"""A snapshot whose listeners do not bind their ports: what a validator Envoy is given to check."""

from __future__ import annotations

from envoy.config.listener.v3.listener_pb2 import Listener

from gitxds import typeurls
from gitxds.xds.cache.encoding import EncodedResource, ResourceEncoder, decode
from gitxds.xds.cache.snapshot import Snapshot

__all__ = ["unbound_listener", "with_unbound_listeners"]


def with_unbound_listeners(snapshot: Snapshot, config_version: str, previous: Snapshot | None) -> Snapshot:
    """``snapshot`` with ``bind_to_port: false`` on every listener (an Envoy beside the real proxies
    checks the config without competing for their ports), labelled ``config_version``."""
    encoder = ResourceEncoder()
    resources: dict[str, list[EncodedResource]] = {
        type_url: list(snapshot.resources(type_url)) for type_url in typeurls.PUSH_ORDER
    }
    resources[typeurls.LISTENER] = [
        encoder.encode(typeurls.LISTENER, _without_bind(resource))
        for resource in resources[typeurls.LISTENER]
    ]
    return Snapshot.build(resources, config_version=config_version, previous=previous)


def unbound_listener(resource: EncodedResource) -> EncodedResource:
    """One listener with ``bind_to_port: false``."""
    return ResourceEncoder().encode(typeurls.LISTENER, _without_bind(resource))


def _without_bind(resource: EncodedResource) -> Listener:
    listener = decode(resource)
    assert isinstance(listener, Listener)
    listener.bind_to_port.value = False
    return listener
