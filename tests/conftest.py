"""Fixtures shared by every test directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import Children

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def children():
    c = Children()
    try:
        yield c
    finally:
        c.end_all()


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES
