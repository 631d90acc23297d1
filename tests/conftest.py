"""Fixtures shared by every suite."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared").resolve()
RECORDED_DB = SHARED / "data" / "recorded-sessions.db"
CAPTURES = SHARED / "reference" / "lmu-captures"


@pytest.fixture
def recorded_db() -> Path:
    """The real recorded-sessions database beside the repo (reference data, never copied)."""
    if not RECORDED_DB.exists():
        pytest.skip(f"reference data absent: {RECORDED_DB} (../shared is not beside the repo)")
    return RECORDED_DB


@pytest.fixture
def captures() -> Path:
    """Real captured LMU responses beside the repo (reference data, never copied)."""
    if not CAPTURES.exists():
        pytest.skip(f"reference captures absent: {CAPTURES} (../shared is not beside the repo)")
    return CAPTURES
