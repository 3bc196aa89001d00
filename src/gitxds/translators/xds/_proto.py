"""Small protobuf helpers shared by the builders."""

from __future__ import annotations

from envoy.config.core.v3.config_source_pb2 import (
    AggregatedConfigSource,
    ApiVersion,
    ConfigSource,
)
from envoy.type.v3.percent_pb2 import FractionalPercent
from google.protobuf.any_pb2 import Any
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.wrappers_pb2 import UInt32Value

__all__ = [
    "ADS_CONFIG_SOURCE",
    "CONTROL_PLANE_CLUSTER",
    "ads_config_source",
    "duration",
    "fractional_percent",
    "packed",
    "set_duration",
    "uint32",
]

# The bootstrap's cluster for gitxds itself: xDS, and the access logs Envoy streams back (ALS).
CONTROL_PLANE_CLUSTER = "gitxds_xds"


def packed(message: Message) -> Any:
    any_message = Any()
    any_message.Pack(message)
    return any_message


def duration(milliseconds: int) -> Duration:
    return Duration(seconds=milliseconds // 1000, nanos=(milliseconds % 1000) * 1_000_000)


def set_duration(field: Duration, milliseconds: int) -> None:
    """``field.FromMilliseconds`` without its Python normalisation (durations here are never negative)."""
    field.seconds = milliseconds // 1000
    field.nanos = (milliseconds % 1000) * 1_000_000


def uint32(value: int) -> UInt32Value:
    return UInt32Value(value=value)


def ads_config_source() -> ConfigSource:
    """Resources delivered over the ADS stream the bootstrap opened, in the v3 API."""
    return ConfigSource(ads=AggregatedConfigSource(), resource_api_version=ApiVersion.V3)


# Serialized once: merging these bytes is much cheaper than building the message per resource.
ADS_CONFIG_SOURCE: bytes = ads_config_source().SerializeToString()


def fractional_percent(percent: float) -> FractionalPercent:
    """``5`` -> 5/100; fractions such as ``0.5`` keep their precision as parts per million."""
    if float(percent).is_integer():
        return FractionalPercent(numerator=int(percent), denominator=FractionalPercent.HUNDRED)
    return FractionalPercent(numerator=round(percent * 10_000), denominator=FractionalPercent.MILLION)
