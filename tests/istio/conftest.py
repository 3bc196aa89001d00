from __future__ import annotations

import pytest

from .crd_validator import CrdValidator


@pytest.fixture(scope="session")
def crd_validator() -> CrdValidator:
    return CrdValidator()
