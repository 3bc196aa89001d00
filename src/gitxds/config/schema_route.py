"""The user-facing schema of a Route: which requests go where, and with what policy."""

from __future__ import annotations

import typing
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from gitxds.config.base import HeaderOps, Model
from gitxds.config.types import (
    UINT32_MAX,
    Duration,
    HeaderName,
    Hostname,
    Name,
    Percent,
    PositiveDuration,
    Ref,
    Regex,
    http_path,
)

__all__ = ["NO_POLICY", "RETRY_ON", "Match", "RouteSpec", "Rule"]

# `auth: none` / `rateLimit: none` on a rule switches the gateway's default policy off.
NO_POLICY = "none"

RetryOn = Literal[
    "5xx",
    "gateway-error",
    "reset",
    "connect-failure",
    "retriable-4xx",
    "refused-stream",
    "unavailable",
    "cancelled",
    "deadline-exceeded",
    "resource-exhausted",
    "internal",
]
RETRY_ON: tuple[str, ...] = typing.get_args(RetryOn)
Method = Literal["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]
HttpPath = Annotated[str, AfterValidator(http_path)]


class PathMatch(Model):
    prefix: HttpPath | None = None
    exact: HttpPath | None = None
    regex: Regex | None = None


class HeaderMatch(Model):
    name: HeaderName
    exact: str | None = None
    prefix: str | None = None
    regex: Regex | None = None
    present: bool | None = None
    invert: bool = False


class ModelMatch(Model):
    """The ``model`` field of an OpenAI-style JSON request body (read by Envoy, see docs/config.md)."""

    exact: str | None = Field(None, min_length=1, max_length=256)
    prefix: str | None = Field(None, min_length=1, max_length=256)
    regex: Regex | None = None


class Match(Model):
    path: PathMatch | None = None
    headers: list[HeaderMatch] = Field(default_factory=list)
    methods: list[Method] = Field(default_factory=list)
    model: ModelMatch | None = None


class BackendRef(Model):
    name: Ref
    weight: int = Field(1, le=UINT32_MAX)  # relative; negative and all-zero weights: see checks


class Streaming(Model):
    idle_timeout: PositiveDuration


def _default_retry_on() -> list[RetryOn]:
    return ["5xx", "reset", "connect-failure"]


class Retries(Model):
    attempts: int = Field(ge=1, le=UINT32_MAX)
    on: list[RetryOn] = Field(default_factory=_default_retry_on)
    per_try_timeout: PositiveDuration | None = None


class Mirror(Model):
    backend: Ref
    percent: Percent = 100.0


class FaultDelay(Model):
    percent: Percent
    duration: PositiveDuration


class FaultAbort(Model):
    percent: Percent
    status: int = Field(ge=200, le=599)


class Fault(Model):
    delay: FaultDelay | None = None
    abort: FaultAbort | None = None


class RuleHeaders(Model):
    request: HeaderOps | None = None
    response: HeaderOps | None = None


class Rule(Model):
    name: Name | None = None
    matches: list[Match] = Field(default_factory=list)
    backends: list[BackendRef]
    fallback: list[Ref] = Field(default_factory=list)
    timeout: Duration | None = None
    streaming: Streaming | None = None
    retries: Retries | None = None
    mirror: Mirror | None = None
    fault: Fault | None = None
    headers: RuleHeaders | None = None
    rate_limit: Ref | None = None
    auth: Ref | None = None


class RouteSpec(Model):
    gateways: list[Ref] = Field(default_factory=list)  # empty is reported as RouteWithoutGateway
    hostnames: list[Hostname] = Field(default_factory=list)
    rules: list[Rule]
