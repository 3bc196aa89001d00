"""Annotated field types shared by the schema: names, ports, durations, rates, regexes, headers.

Each raises a :class:`PydanticCustomError` whose type names the diagnostic reason (see
:mod:`gitxds.config.pydantic_errors`), so a bad duration is reported as ``InvalidDuration``.
"""

from __future__ import annotations

import ipaddress
import re
import warnings
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainValidator
from pydantic_core import PydanticCustomError

from gitxds.config.regex import re2_problem
from gitxds.config.units import RateValue, check_name, parse_duration, parse_rate

__all__ = [
    "MAX_SELECTOR_LABELS",
    "UINT32_MAX",
    "Duration",
    "HeaderName",
    "Hostname",
    "IpAddress",
    "LabelSelector",
    "Name",
    "Percent",
    "Port",
    "PositiveDuration",
    "ProxyIdentity",
    "Rate",
    "Ref",
    "Regex",
    "SecretName",
    "ServiceName",
    "Share",
    "http_path",
]

UINT32_MAX = 2**32 - 1  # Envoy stores counts and weights as uint32
MAX_SELECTOR_LABELS = 64  # Kubernetes sets no count; a pod selector longer than this is a mistake

_SECRET_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")  # one entry of the secret store directory
_HEADER_NAME = re.compile(r":?[A-Za-z0-9!#$%&'*+\-.^_`|~]+")
_SERVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,252}")  # an OpenTelemetry service.name
# Kubernetes label syntax: an optional DNS-subdomain prefix and "/", then a name of at most 63
# characters; a value is empty or name-like.
_LABEL_NAME = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)")
_LABEL_PREFIX = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# A URI SAN with a scheme and something after it (spiffe://trust-domain/path), or a DNS SAN.
_URI_SAN = re.compile(r"[a-z][a-z0-9+.-]*://[^\s/]+(/\S*)?")
MAX_IDENTITY_CHARS = 2048
_HOSTNAME = re.compile(r"(\*\.)?([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def _name(value: str) -> str:
    try:
        return check_name(value)
    except ValueError as exc:
        raise PydanticCustomError("invalid_name", str(exc)) from None


def _duration(value: Any) -> int:
    if not isinstance(value, str):
        raise PydanticCustomError(
            "invalid_duration", "a duration needs a unit, e.g. 30s or 250ms (got {value})", {"value": value}
        )
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise PydanticCustomError("invalid_duration", str(exc)) from None


def _positive(millis: int) -> int:
    if millis <= 0:
        raise PydanticCustomError("invalid_duration", "must be longer than 0s")
    return millis


def _rate(value: Any) -> RateValue:
    if not isinstance(value, str):
        raise PydanticCustomError("invalid_rate", "a rate is written N/second, N/minute or N/hour")
    try:
        return parse_rate(value)
    except ValueError as exc:
        raise PydanticCustomError("invalid_rate", str(exc)) from None


def _port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise PydanticCustomError("invalid_port", "port {port} is outside 1-65535", {"port": value})
    return value


def _regex(value: str) -> str:
    try:
        with warnings.catch_warnings(action="ignore"):  # FutureWarnings about nested sets
            re.compile(value)
    except re.error as exc:
        raise PydanticCustomError(
            "invalid_regex", 'regex "{regex}" does not compile: {error}', {"regex": value, "error": str(exc)}
        ) from None
    problem = re2_problem(value)
    if problem:
        raise PydanticCustomError(
            "invalid_regex", 'regex "{regex}" {problem}', {"regex": value, "problem": problem}
        )
    return value


def _header_name(value: str) -> str:
    if not _HEADER_NAME.fullmatch(value):
        raise PydanticCustomError(
            "invalid_value", '"{name}" is not a valid HTTP header name', {"name": value}
        )
    return value.lower()


def _hostname(value: str) -> str:
    if value != "*" and not _HOSTNAME.fullmatch(value):
        raise PydanticCustomError(
            "invalid_value",
            '"{host}" is not a host name (lower-case DNS name, optionally starting with "*.")',
            {"host": value},
        )
    return value


def _proxy_identity(value: str) -> str:
    """A certificate SAN a proxy must present: a URI (``spiffe://...``) or a DNS name (lower case)."""
    if len(value) > MAX_IDENTITY_CHARS:
        raise PydanticCustomError(
            "invalid_value", "an identity is at most {limit} characters", {"limit": MAX_IDENTITY_CHARS}
        )
    if "://" in value:
        if not _URI_SAN.fullmatch(value):
            raise PydanticCustomError(
                "invalid_value",
                '"{identity}" is not a URI SAN like spiffe://trust-domain/ns/NAMESPACE/sa/ACCOUNT',
                {"identity": value},
            )
        return value
    if value.startswith("*") or not _HOSTNAME.fullmatch(value):
        raise PydanticCustomError(
            "invalid_value",
            '"{identity}" is neither a URI SAN (spiffe://...) nor a lower-case DNS name',
            {"identity": value},
        )
    return value


# A dotted quad without leading zeros: what ipaddress accepts for IPv4, without its Python parsing.
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"({_OCTET}\.){{3}}{_OCTET}")


def _ip(value: str) -> str:
    if _IPV4.fullmatch(value):
        return value
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise PydanticCustomError(
            "invalid_value",
            '"{address}" is not an IP address (use dns: {hostname, port} for host names)',
            {"address": value},
        ) from None
    return value


def _secret_name(value: str) -> str:
    if not _SECRET_NAME.fullmatch(value):
        raise PydanticCustomError(
            "invalid_name",
            '"{name}" is not a secret name: letters, digits, ".", "_" and "-", not starting with "."',
            {"name": value},
        )
    return value


def _service_name(value: str) -> str:
    if not _SERVICE_NAME.fullmatch(value):
        raise PydanticCustomError(
            "invalid_name",
            '"{name}" is not a service name: 1-253 letters, digits, ".", "_", "/" and "-", '
            "starting with a letter or digit",
            {"name": value[:64]},
        )
    return value


def _ref(value: str) -> str:
    if not value:
        raise PydanticCustomError("invalid_value", "a name must not be empty")
    return value


def _label_key_problem(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash and not (len(prefix) <= 253 and _LABEL_PREFIX.fullmatch(prefix)):
        return "its prefix is not a lower-case DNS subdomain of at most 253 characters"
    if not _LABEL_NAME.fullmatch(name):
        return 'a label name is 1-63 letters, digits, "-", "_" or ".", starting and ending alphanumeric'
    return None


def _label_key(key: str) -> str:
    problem = _label_key_problem(key)
    if problem:
        raise PydanticCustomError(
            "invalid_value",
            '"{key}" is not a Kubernetes label key: {problem}',
            {"key": key, "problem": problem},
        )
    return key


def _label_value(value: str) -> str:
    if value and not _LABEL_NAME.fullmatch(value):
        raise PydanticCustomError(
            "invalid_value",
            '"{value}" is not a Kubernetes label value: at most 63 letters, digits, "-", "_" or ".", '
            "starting and ending with a letter or digit",
            {"value": value},
        )
    return value


def _label_count(labels: dict[str, str]) -> dict[str, str]:
    if len(labels) > MAX_SELECTOR_LABELS:
        raise PydanticCustomError(
            "invalid_value",
            "a selector has at most {most} labels, got {count}",
            {"most": MAX_SELECTOR_LABELS, "count": len(labels)},
        )
    return labels


def http_path(value: str) -> str:
    if not value.startswith("/"):
        raise PydanticCustomError("invalid_value", 'path "{path}" must start with "/"', {"path": value})
    return value


def _percent(value: float) -> float:
    if not 0 <= value <= 100:
        raise PydanticCustomError(
            "invalid_value", "percent must be within 0-100, got {value}", {"value": value}
        )
    return float(value)


def _share(value: Any) -> float:
    """A share of requests written ``"99%"`` (or a bare number of percent)."""
    if isinstance(value, bool):
        raise PydanticCustomError("invalid_type", "a share is written like 99% or 0.5%")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value.endswith("%"):
        try:
            return float(value[:-1])
        except ValueError:
            pass
    raise PydanticCustomError(
        "invalid_value", "a share is written like 99% or 0.5% (got {value})", {"value": value}
    )


Name = Annotated[str, AfterValidator(_name)]
Ref = Annotated[str, AfterValidator(_ref)]
SecretName = Annotated[
    str, AfterValidator(_secret_name)
]  # a reference to another object; resolved by compile
ServiceName = Annotated[str, AfterValidator(_service_name)]
Port = Annotated[int, AfterValidator(_port)]
Duration = Annotated[int, BeforeValidator(_duration)]  # milliseconds
PositiveDuration = Annotated[int, BeforeValidator(_duration), AfterValidator(_positive)]
Rate = Annotated[RateValue, PlainValidator(_rate)]
Regex = Annotated[str, AfterValidator(_regex)]
HeaderName = Annotated[str, AfterValidator(_header_name)]
Hostname = Annotated[str, AfterValidator(_hostname)]
IpAddress = Annotated[str, AfterValidator(_ip)]
ProxyIdentity = Annotated[str, AfterValidator(_proxy_identity)]
Percent = Annotated[float, AfterValidator(_percent)]
Share = Annotated[float, BeforeValidator(_share), AfterValidator(_percent)]  # "99%", "0.5%" or 99
_LabelKey = Annotated[str, AfterValidator(_label_key)]
_LabelValue = Annotated[str, AfterValidator(_label_value)]
LabelSelector = Annotated[dict[_LabelKey, _LabelValue], AfterValidator(_label_count)]  # pod labels, equality
