"""Pit stops through the real simulator: every scripted visit is one stop, at the right times."""

from __future__ import annotations

import pytest
from sim_observations import car_key, laps_at, of_kind, script_stops, tracked_stops, within


@pytest.mark.parametrize("name", ["race_1s", "race_5s"])
def test_every_visit_is_one_stop_at_the_scripted_times(name, request):
    run = request.getfixturevalue(name)
    spacing = run.spacing
    kinds = {"stop": 0, "drive_through": 0, "garage": 0, "stuck": 0, "after_line": 0}
    for car in run.script.cars:
        visits, stops = script_stops(car), tracked_stops(run.tracker, car)
        assert len(stops) == len(visits), car_key(car)
        for visit, stop in zip(visits, stops, strict=True):
            where = (car_key(car), visit.lap)
            assert stop.lap == visit.lap, where
            assert stop.exit_et is not None or visit.exit_et is None, where
            assert within(stop.entry_et, visit.entry_et, spacing), where
            assert within(stop.stop_et, visit.stop_et, spacing), where
            assert within(stop.release_et, visit.release_et, spacing), where
            assert within(stop.exit_et, visit.exit_et, spacing), where
            assert within(stop.garage_in_et, visit.garage_in_et, spacing), where
            assert within(stop.garage_out_et, visit.garage_out_et, spacing), where
            no_stop = visit.stop_et is None and visit.garage_in_et is None
            assert stop.drive_through == no_stop, where
            if visit.stop_et is not None:
                assert stop.stationary_time == pytest.approx(visit.stationary_time, abs=spacing)
                stopped_lap = laps_at(car, stop.stop_et) + 1
                assert stop.stop_lap == stopped_lap
                kinds["after_line"] += stop.stop_after_line
            kinds["stop"] += visit.stop_et is not None
            kinds["drive_through"] += no_stop
            kinds["garage"] += visit.garage_in_et is not None
            kinds["stuck"] += visit.stuck_exiting and visit.exit_et is not None
    assert kinds["stop"] > 10 and kinds["drive_through"] >= 1 and kinds["stuck"] >= 3
    assert kinds["garage"] >= 1
    if name == "race_1s":
        assert kinds["after_line"] > 10  # this track's boxes are past the line


@pytest.mark.parametrize("name", ["race_1s", "race_5s"])
def test_stops_are_resolved_from_the_strategy_entries(name, request):
    run = request.getfixturevalue(name)
    resolved = 0
    for car in run.script.cars:
        for visit, stop in zip(script_stops(car), tracked_stops(run.tracker, car), strict=True):
            if visit.stop_et is None and visit.penalty_served is None:
                continue
            if visit.garage_in_et is not None and visit.garage_out_et is None:
                continue  # retired: the out-lap never comes, nor its strategy entry
            assert stop.resolved, (car_key(car), visit.lap)
            assert stop.strategy_lap == visit.lap
            assert stop.service_time == pytest.approx(visit.stationary_time, abs=1e-3)
            assert stop.tyres_changed == visit.tyres_changed
            if visit.compounds_after is not None:
                assert stop.compounds == visit.compounds_after
            if car.entry.slot_id == run.player_slot and visit.fuel_after is not None:
                assert stop.fuel == pytest.approx(visit.fuel_after, abs=1e-4)
            resolved += 1
    assert resolved > 10


def test_driver_swaps_at_the_right_lap_with_the_right_drivers(race_1s):
    run = race_1s
    swaps = of_kind(run.events, "driver_swap")
    scripted = [(c, v) for c in run.script.cars for v in c.pits if v.driver_in]
    assert len(swaps) == len(scripted) >= 3
    for car, visit in scripted:
        key = car_key(car)
        event = next(e for e in swaps if e.car == key and e.driver_in == visit.driver_in)
        assert visit.swap_et <= event.et <= visit.swap_et + run.spacing
        assert event.lap == laps_at(car, event.et) + 1
        stop = run.tracker.cars[key].stop(event.stop)
        assert stop is not None and stop.lap == visit.lap
        previous = [lap.driver for lap in car.laps if lap.end_et <= visit.swap_et]
        assert event.driver_out == (previous[-1] if previous else car.first_driver)
        assert stop.swaps == [
            {"et": event.et, "driver_out": event.driver_out, "driver_in": visit.driver_in}
        ]


@pytest.mark.parametrize("name", ["race_1s", "race_5s"])
def test_penalties_counted_and_served(name, request):
    run = request.getfixturevalue(name)
    end = run.script.final_et()
    for car in run.script.cars:
        key = car_key(car)
        given = [p for p in car.penalties if p.et <= end]
        served = [p for p in given if p.served_et is not None and p.served_et <= end]
        added = [e for e in of_kind(run.events, "penalty_added") if e.car == key]
        done = [e for e in of_kind(run.events, "penalty_served") if e.car == key]
        assert [e.added for e in added] == [p.kind for p in given], key
        assert sorted(e.served for e in done) == sorted(p.kind for p in served), key
        assert run.tracker.cars[key].penalties_total == len(given)
        for visit, stop in zip(script_stops(car), tracked_stops(run.tracker, car), strict=True):
            assert stop.penalty_served == visit.penalty_served, (key, visit.lap)
    assert of_kind(run.events, "penalty_served")
