"""Shared runs of the simulator through the tracker (each is played once per test session)."""

from __future__ import annotations

import pytest
from sim_observations import Run, play

from sim.synthetic import generate_session


@pytest.fixture(scope="session")
def race_1s() -> Run:
    """80-minute, 14-car race (boxes past the line; DT, SG and TIME penalties, swaps, stuck
    EXITING, a repair in the garage), one observation per second."""
    return play(generate_session(seed=8, cars=14, duration=4800), 1.0)


@pytest.fixture(scope="session")
def race_5s() -> Run:
    """80-minute, 14-car race (boxes before the line), one observation every 5 s."""
    return play(generate_session(seed=12, cars=14, duration=4800), 5.0, player_slot=3)
