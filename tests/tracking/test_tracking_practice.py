"""A practice session through the real simulator: garage runs, timed classification."""

from __future__ import annotations

import pytest
from sim_observations import assert_laps_match, car_key, play, script_stops, within

from sim.synthetic import generate_session


@pytest.fixture(scope="module")
def practice():
    return play(generate_session(seed=4, session="PRACTICE1", cars=8, duration=1800), 1.0)


def test_practice_laps_garage_visits_and_stints(practice):
    run = practice
    assert_laps_match(run.script, run.tracker)
    garages = 0
    for car in run.script.cars:
        key = car_key(car)
        stops = run.tracker.pit_stops(key)
        # every car starts in its garage: the first stop is that stay (first sight, lap 1)
        first, *rest = stops
        assert first.garage and first.entry_et is None and first.lap == 1
        visits = script_stops(car)
        assert len(rest) == len(visits), key
        for visit, stop in zip(visits, rest, strict=True):
            # The simulator shows a car in its garage from the end of its last flying lap to
            # its pit entry (the in-lap is no lap of the script), then in the pit lane, then in
            # the garage again: one stop that begins when the car is first seen in the garage.
            assert stop.garage_in_et is not None and stop.garage_in_et <= visit.garage_in_et + 1
            if visit.garage_out_et is not None:  # (else the flag fell before it came out)
                assert within(stop.garage_out_et, visit.garage_out_et, run.spacing), key
                assert within(stop.exit_et, visit.exit_et, run.spacing), key
            garages += 1
        # a run out of the garage is a stint; laps are all in one
        stints = run.tracker.stints(key)
        runs = 1 + sum(1 for v in visits if v.garage_out_et is not None) if car.laps else 0
        assert len(stints) == runs, key
        assert sum(s.laps for s in stints) == len(car.laps)
        assert all(s.ended_by in ("garage", "finish", None) for s in stints)
    assert garages >= 8


def test_practice_classification_is_by_best_lap(practice):
    run = practice
    best = {
        car_key(c): min((lap.lap_time for lap in c.laps if lap.lap_time > 0), default=None)
        for c in run.script.cars
    }
    timed = sorted((t, k) for k, t in best.items() if t is not None)
    order = run.tracker.classification()
    assert order[: len(timed)] == [k for _, k in timed]
