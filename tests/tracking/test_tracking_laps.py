"""Laps through the real simulator: every scripted lap once, with the game's times."""

from __future__ import annotations

from collections import Counter

import pytest
from sim_observations import (
    Observer,
    assert_laps_match,
    car_key,
    ets,
    laps_at,
    of_kind,
    reported_lap,
    run,
)

from server.tracking.tracker import Tracker
from sim.synthetic import generate_session


def test_every_lap_once_with_one_observation_per_second(race_1s):
    compared = assert_laps_match(race_1s.script, race_1s.tracker)
    assert compared == sum(len(c.laps) for c in race_1s.script.cars) > 400
    completed = Counter((e.car, e.lap) for e in of_kind(race_1s.events, "lap_completed"))
    assert max(completed.values()) == 1
    assert not race_1s.tracker.missing_laps()
    assert {e.source for e in of_kind(race_1s.events, "lap_completed")} == {"live"}


def test_every_lap_once_with_one_observation_every_five_seconds(race_5s):
    assert_laps_match(race_5s.script, race_5s.tracker)
    assert not race_5s.tracker.missing_laps()


def test_laps_carry_line_facts(race_1s):
    """Position, fuel, energy and tyres at the line, and the pit lap marks."""
    script, tracker = race_1s.script, race_1s.tracker
    checked = 0
    for car in script.cars:
        key = car_key(car)
        laps = {lap.lap: lap for lap in tracker.car_laps(key)}
        pit_laps = {v.lap for v in car.pits if v.entry_et is not None}
        for want in car.laps:
            got = laps[want.number]
            # the in-lap and the out-lap (the car starts it in the pit lane)
            assert got.pit == (want.number in pit_laps or want.number - 1 in pit_laps)
            if want.number in pit_laps or want.number - 1 in pit_laps:
                continue  # a refuel inside the lap shows before the line
            assert got.compounds == want.compounds
            assert got.position is not None and got.class_position is not None
            if car.entry.slot_id == race_1s.player_slot:
                continue  # fuel comes from the usage for the player's own car
            assert got.fuel == pytest.approx(want.fuel_end, abs=1e-4), (key, want.number)
            if want.ve_end is not None:
                assert got.ve == pytest.approx(want.ve_end, abs=1e-4)
            else:
                assert got.ve is None
            checked += 1
    assert checked > 300


def test_player_fuel_comes_from_usage_not_the_full_tank(race_1s):
    """The game shows the player's own car with a full tank; its laps take the usage fuel."""
    script, tracker = race_1s.script, race_1s.tracker
    player = next(c for c in script.cars if c.entry.slot_id == race_1s.player_slot)
    laps = {lap.lap: lap for lap in tracker.car_laps(car_key(player))}
    for want in player.laps:
        assert laps[want.number].fuel == pytest.approx(want.fuel_end, abs=1e-4), want.number
        assert laps[want.number].fuel != 1.0
    updates = [e for e in of_kind(race_1s.events, "lap_updated") if e.car == car_key(player)]
    assert len(updates) == len(player.laps)


def test_a_ten_minute_hole_is_filled_by_backfill_without_duplicates():
    script = generate_session(seed=21, cars=8, duration=2400)
    tracker = Tracker(script.session, script.track.length)
    observer = Observer(script)
    hole = (1550.0, 2150.0)  # car 1 spends it in its garage (a repair)
    before = [et for et in ets(0.0, script.final_et(), 1.0) if et < hole[0]]
    after = [et for et in ets(0.0, script.final_et(), 1.0) if et > hole[1]]
    events = run(tracker, observer, before)
    events += tracker.observe(observer.state(after[0]), after[0])
    missing = tracker.missing_laps()
    late = of_kind(events, "lap_completed")[-len(script.cars) :]
    assert all(e.source == "late" for e in late)
    for car in script.cars:
        want = list(range(laps_at(car, hole[0] - 1) + 1, laps_at(car, after[0])))
        assert missing.get(car_key(car), []) == want
    # the client answers the server's request with the game's lap history
    filled = tracker.backfill(observer.history(after[0]), after[0])
    assert {e.source for e in of_kind(filled, "lap_completed")} == {"history"}
    assert not tracker.missing_laps()
    again = tracker.backfill(observer.history(after[0] + 1), after[0] + 1)
    assert of_kind(again, "lap_completed") == []
    events += filled + run(tracker, observer, after[1:])
    assert_laps_match(script, tracker, exact_line=False)
    completed = Counter((e.car, e.lap) for e in of_kind(events, "lap_completed"))
    assert max(completed.values()) == 1
    # late laps took their position at the line from the history
    positions = {(e.car, e.lap) for e in of_kind(filled, "lap_updated")}
    assert positions <= {(e.car, e.lap) for e in late}
    for e in late:
        lap = tracker.cars[e.car].laps[e.lap]
        assert lap.position is not None
    # the stop inside the hole is known from its strategy entry
    hidden = [(c, v) for c in script.cars for v in c.pits if hole[0] < v.start_et < hole[1]]
    assert hidden
    for car, visit in hidden:
        (stop,) = [s for s in tracker.pit_stops(car_key(car)) if s.lap == visit.lap]
        assert stop.recovered and stop.resolved and stop.entry_et is None
        assert stop.service_time == pytest.approx(visit.stationary_time, abs=1e-3)


def test_a_car_first_seen_mid_race_has_its_earlier_laps_missing():
    script = generate_session(seed=3, cars=4, duration=1800)
    tracker = Tracker(script.session, script.track.length)
    observer = Observer(script)
    events = run(tracker, observer, ets(600.0, 700.0, 1.0))
    for car in script.cars:
        done = laps_at(car, 600.0)
        assert tracker.missing_laps()[car_key(car)] == list(range(1, done))
        first = next(e for e in of_kind(events, "lap_completed") if e.car == car_key(car))
        assert (first.lap, first.source) == (done, "late")
        assert first.lap_time == pytest.approx(reported_lap(car.laps[done - 1])[0], abs=1e-3)
    tracker.backfill(observer.history(700.0), 700.0)
    assert not tracker.missing_laps()
    for car in script.cars:
        assert len(tracker.car_laps(car_key(car))) == laps_at(car, 700.0)
