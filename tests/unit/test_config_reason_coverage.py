"""Every reason code the config and compile stages emit is shown in at least one invalid golden case.

The reasons about files rather than text (links, special files, sizes, unreadable files) need a file
system state a golden case cannot hold in Git; tests/unit/test_config_files.py shows each of them.
"""

from __future__ import annotations

from pathlib import Path

from gitxds.errors import Reason

CASES = Path(__file__).resolve().parents[1] / "golden" / "cases"
EMITTED_BY_CONFIG_AND_COMPILE = (
    Reason.YAML_SYNTAX,
    Reason.NOT_AN_OBJECT,
    Reason.UNKNOWN_API_VERSION,
    Reason.UNKNOWN_KIND,
    Reason.ALIAS_EXPANSION_TOO_LARGE,
    Reason.MISSING_FIELD,
    Reason.UNKNOWN_FIELD,
    Reason.INVALID_TYPE,
    Reason.INVALID_VALUE,
    Reason.INVALID_NAME,
    Reason.INVALID_DURATION,
    Reason.INVALID_RATE,
    Reason.INVALID_PORT,
    Reason.INVALID_REGEX,
    Reason.CONFLICTING_FIELDS,
    Reason.DUPLICATE_NAME,
    Reason.UNKNOWN_BACKEND,
    Reason.UNKNOWN_GATEWAY,
    Reason.UNKNOWN_RATE_LIMIT_POLICY,
    Reason.UNKNOWN_AUTH_POLICY,
    Reason.UNKNOWN_ROUTE,
    Reason.NEGATIVE_WEIGHT,
    Reason.ALL_WEIGHTS_ZERO,
    Reason.DUPLICATE_LISTENER_PORT,
    Reason.DUPLICATE_MATCH,
    Reason.ROUTE_WITHOUT_GATEWAY,
    Reason.DEPENDENCY_DROPPED,
    Reason.DUPLICATE_PROXIES,
)


def test_every_config_reason_has_an_invalid_golden_case() -> None:
    shown = "".join(path.read_text() for path in CASES.glob("invalid-*/out/diagnostics.txt"))
    missing = [reason.value for reason in EMITTED_BY_CONFIG_AND_COMPILE if f" {reason}: " not in shown]
    assert missing == []
