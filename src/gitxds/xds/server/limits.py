"""What one xDS client may ask of the server, and the errors that end a stream that asks for more.

Every limit is far above what a real Envoy sends (a node id is a pod name; a SotW EDS request names
the clusters of one gateway) and low enough that a hostile client cannot exhaust memory or logs.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from gitxds.safetext import printable

__all__ = ["InvalidRequestError", "LimitExceededError", "PermissionDeniedError", "XdsLimits"]


@dataclass(frozen=True, slots=True)
class XdsLimits:
    max_request_bytes: int = 16 * 1024 * 1024  # one request message (gRPC refuses larger ones)
    max_names_per_request: int = 100_000  # resource names (subscribe + unsubscribe + initial versions)
    max_names_per_type: int = 100_000  # names one stream is subscribed to, per type
    max_node_id_chars: int = 1024  # node.id and node.cluster each
    max_node_bytes: int = 64 * 1024  # the whole Node message, metadata included
    max_streams_per_connection: int = 16
    max_streams: int = 10_000  # open streams on this server
    max_shown_chars: int = 1024  # of a NACK message or node id, in logs and status


class InvalidRequestError(Exception):
    """A request no Envoy would send; the stream ends with ``code`` and this message."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, message: str) -> None:
        super().__init__(printable(message, 512))


class LimitExceededError(InvalidRequestError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class PermissionDeniedError(InvalidRequestError):
    """The proxy's certificate does not carry an identity of the gateway its node claims."""

    code = grpc.StatusCode.PERMISSION_DENIED
