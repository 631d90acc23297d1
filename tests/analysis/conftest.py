"""Fixtures of the analysis tests (the harness: `analysis_harness`)."""

from __future__ import annotations

from analysis_harness import monza_fixture, race, sebring_fixture, site_fixture

sebring = sebring_fixture
monza = monza_fixture
site = site_fixture

__all__ = ["monza", "race", "sebring", "site"]
