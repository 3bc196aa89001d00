"""The error vocabulary shared by diagnostics, status and metrics.

Every problem a user can cause is a :class:`Diagnostic` with a stable :class:`Reason` code, so the CLI,
the status page and the ``gitxds_config_errors_total`` metric all say the same thing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Reason(enum.StrEnum):
    """Stable reason codes. Never rename one: users grep logs and alert on them."""

    # Reading files
    YAML_SYNTAX = "YamlSyntax"
    NOT_AN_OBJECT = "NotAnObject"
    UNKNOWN_API_VERSION = "UnknownApiVersion"
    UNKNOWN_KIND = "UnknownKind"
    # Which files are read, and how much of them (limits: see gitxds.config.files.Limits)
    LINK_OUTSIDE_CONFIG = "LinkOutsideConfig"
    LINK_CYCLE = "LinkCycle"
    NOT_A_REGULAR_FILE = "NotARegularFile"
    UNREADABLE_FILE = "UnreadableFile"
    FILE_TOO_LARGE = "FileTooLarge"
    CONFIG_TOO_LARGE = "ConfigTooLarge"
    ALIAS_EXPANSION_TOO_LARGE = "AliasExpansionTooLarge"
    # Shape of one document
    MISSING_FIELD = "MissingField"
    UNKNOWN_FIELD = "UnknownField"
    INVALID_TYPE = "InvalidType"
    INVALID_VALUE = "InvalidValue"
    INVALID_NAME = "InvalidName"
    INVALID_DURATION = "InvalidDuration"
    INVALID_RATE = "InvalidRate"
    INVALID_PORT = "InvalidPort"
    INVALID_REGEX = "InvalidRegex"
    CONFLICTING_FIELDS = "ConflictingFields"
    # Across documents
    DUPLICATE_NAME = "DuplicateName"
    UNKNOWN_BACKEND = "UnknownBackend"
    UNKNOWN_GATEWAY = "UnknownGateway"
    UNKNOWN_RATE_LIMIT_POLICY = "UnknownRateLimitPolicy"
    UNKNOWN_AUTH_POLICY = "UnknownAuthPolicy"
    UNKNOWN_ROUTE = "UnknownRoute"
    NEGATIVE_WEIGHT = "NegativeWeight"
    ALL_WEIGHTS_ZERO = "AllWeightsZero"
    DUPLICATE_LISTENER_PORT = "DuplicateListenerPort"
    DUPLICATE_MATCH = "DuplicateMatch"
    ROUTE_WITHOUT_GATEWAY = "RouteWithoutGateway"
    DEPENDENCY_DROPPED = "DependencyDropped"
    DUPLICATE_PROXIES = "DuplicateProxies"
    # Secrets and the data plane
    UNKNOWN_SECRET = "UnknownSecret"
    ENVOY_REJECTED = "EnvoyRejected"


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem, tied to where the user can fix it.

    ``path`` is the field path inside the document (``spec.rules[0].backends[1].name``); ``line`` is
    1-based and points at that field when it can be found, else at the document's start.
    """

    file: str
    line: int
    path: str
    reason: Reason
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        field = f" {self.path}:" if self.path else ""
        prefix = "" if self.severity is Severity.ERROR else "warning: "
        return f"{where}{field} {prefix}{self.reason}: {self.message}"

    def sort_key(self) -> tuple[str, int, str, str]:
        return (self.file, self.line, self.path, self.reason.value)

    def to_json(self) -> dict[str, str | int]:
        """The JSON form of ``gitxds validate --output json``, ``/status`` and ``gitxds status``."""
        return {
            "file": self.file,
            "line": self.line,
            "path": self.path,
            "reason": self.reason.value,
            "message": self.message,
            "severity": self.severity.value,
            "text": str(self),
        }


class GitxdsError(Exception):
    """Base of every exception gitxds raises on purpose."""


class ConfigError(GitxdsError):
    """A config directory could not be turned into a servable snapshot; carries every diagnostic."""

    def __init__(self, diagnostics: tuple[Diagnostic, ...]) -> None:
        self.diagnostics = diagnostics
        first = str(diagnostics[0]) if diagnostics else "invalid configuration"
        more = f" (and {len(diagnostics) - 1} more)" if len(diagnostics) > 1 else ""
        super().__init__(first + more)


class UsageError(GitxdsError):
    """The command line or an option was wrong (CLI exit code 2)."""
