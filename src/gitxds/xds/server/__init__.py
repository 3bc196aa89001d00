"""The gRPC xDS server: ADS and per-type services, State-of-the-World and delta."""

from gitxds.xds.server.identity import IdentityPolicy, Refusal
from gitxds.xds.server.limits import XdsLimits
from gitxds.xds.server.server import GRPC_OPTIONS, MAX_MESSAGE_BYTES, XdsServer
from gitxds.xds.server.status import ProxyStatus, TypeStatus, Variant, XdsEvent

__all__ = [
    "GRPC_OPTIONS",
    "MAX_MESSAGE_BYTES",
    "IdentityPolicy",
    "ProxyStatus",
    "Refusal",
    "TypeStatus",
    "Variant",
    "XdsEvent",
    "XdsLimits",
    "XdsServer",
]
