"""``--update-golden`` (or GITXDS_UPDATE_GOLDEN=1): rewrite every expected output from the code."""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="regenerate tests/golden/cases/*/out from the code; review the diff before committing",
    )


@pytest.fixture(scope="session")
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden")) or os.environ.get("GITXDS_UPDATE_GOLDEN") == "1"
