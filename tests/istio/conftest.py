from __future__ import annotations

import pytest

from .crd_validator import CrdValidator
from .extra_schemas import EXTRA_SCHEMAS


@pytest.fixture(scope="session")
def crd_validator() -> CrdValidator:
    """The upstream CRDs, plus hand-written schemas for AuthorizationPolicy and EnvoyFilter."""
    validator = CrdValidator()
    validator.schemas.update(EXTRA_SCHEMAS)
    return validator
