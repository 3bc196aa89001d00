"""Options every suite under tests/ shares.

``--update-golden`` (or ``GITXDS_UPDATE_GOLDEN=1``) makes every golden suite, xDS (tests/golden) and
Istio (tests/istio), rewrite its expected outputs from the code instead of comparing; review the diff
before committing. ``make golden`` runs both suites with it.
"""

from __future__ import annotations

import os

import pytest

UPDATE_GOLDEN_ENV = "GITXDS_UPDATE_GOLDEN"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="regenerate the golden outputs of tests/golden and tests/istio from the code",
    )


@pytest.fixture(scope="session")
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden")) or os.environ.get(UPDATE_GOLDEN_ENV) == "1"
