"""The weekend clock, driven by a hand-cranked `now` (no sleeping)."""

from __future__ import annotations

import pytest
from scripts import simple_practice, simple_race, weekend

from sim.timeline import WeekendClock, WeekendPosition


class Crank:
    """A wall clock the test turns by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def turn(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def two_sessions():
    practice = simple_practice(cars=2, runs=1, laps_per_run=2)
    race = simple_race(cars=2, laps=3)
    return weekend(practice, race, transition_seconds=20.0)


def test_plays_sessions_with_loading_between(two_sessions):
    crank = Crank()
    clock = WeekendClock(two_sessions, now=crank)
    p_final = two_sessions.sessions[0].final_et()
    r_final = two_sessions.sessions[1].final_et()
    assert clock.position() == WeekendPosition(0, 0.0, False, False)
    crank.turn(100.0)
    assert clock.position() == WeekendPosition(0, 100.0, False, False)
    crank.turn(p_final - 100.0 - 1.0)
    assert clock.position().et == pytest.approx(p_final - 1.0)
    crank.turn(2.0)
    assert clock.position() == WeekendPosition(1, 0.0, True, False)
    crank.turn(18.0)
    assert clock.position().loading
    crank.turn(2.0)
    pos = clock.position()
    assert (pos.session_index, pos.loading) == (1, False)
    assert pos.et == pytest.approx(1.0)
    crank.turn(r_final + 500.0)
    assert clock.position() == WeekendPosition(1, r_final, False, True)


def test_speed_scales_play_but_not_loading(two_sessions):
    crank = Crank()
    p_final = two_sessions.sessions[0].final_et()
    clock = WeekendClock(two_sessions, speed=10.0, start_et=50.0, now=crank)
    crank.turn(10.0)
    assert clock.position().et == pytest.approx(150.0)
    crank.turn((p_final - 150.0) / 10.0 + 5.0)  # 5 wall seconds into loading
    assert clock.position().loading
    crank.turn(15.0 + 1.0)
    assert clock.position().et == pytest.approx(10.0)


def test_set_speed_keeps_position_continuous(two_sessions):
    crank = Crank()
    clock = WeekendClock(two_sessions, now=crank)
    crank.turn(100.0)
    clock.set_speed(4.0)
    assert clock.position().et == pytest.approx(100.0)
    crank.turn(10.0)
    assert clock.position().et == pytest.approx(140.0)
    clock.set_speed(0.5)
    crank.turn(10.0)
    assert clock.position().et == pytest.approx(145.0)
    assert clock.speed == 0.5
    with pytest.raises(ValueError):
        clock.set_speed(0.0)


def test_pause_freezes_and_resume_continues(two_sessions):
    crank = Crank()
    clock = WeekendClock(two_sessions, now=crank)
    crank.turn(30.0)
    clock.pause()
    assert clock.paused
    crank.turn(500.0)
    assert clock.position().et == pytest.approx(30.0)
    clock.resume()
    crank.turn(5.0)
    assert clock.position().et == pytest.approx(35.0)


def test_pause_during_loading_holds_the_loading(two_sessions):
    crank = Crank()
    p_final = two_sessions.sessions[0].final_et()
    clock = WeekendClock(two_sessions, now=crank)
    crank.turn(p_final + 5.0)
    clock.pause()
    crank.turn(100.0)
    assert clock.position() == WeekendPosition(1, 0.0, True, False)
    clock.resume()
    crank.turn(15.5)
    pos = clock.position()
    assert not pos.loading and pos.et == pytest.approx(0.5)


def test_jump_and_start_session(two_sessions):
    crank = Crank()
    clock = WeekendClock(two_sessions, start_session=1, start_et=200.0, now=crank)
    assert clock.position() == WeekendPosition(1, 200.0, False, False)
    clock.jump(0, 42.0)
    crank.turn(1.0)
    assert clock.position() == WeekendPosition(0, 43.0, False, False)
    with pytest.raises(IndexError):
        clock.jump(5, 0.0)


def test_single_session_ends_over():
    crank = Crank()
    race = simple_race(cars=1, laps=2)
    clock = WeekendClock(weekend(race), speed=2.0, now=crank)
    crank.turn(race.final_et() / 2.0 - 1.0)
    assert not clock.position().over
    crank.turn(2.0)
    assert clock.position() == WeekendPosition(0, race.final_et(), False, True)
