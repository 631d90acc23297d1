"""Event sourcing: a tracker restored from its stored events goes on exactly like the original."""

from __future__ import annotations

import orjson
from sim_observations import Observer, ets, run

from server.tracking.events import EVENT_TYPES, event_from_dict, event_to_dict
from server.tracking.tracker import Tracker


def facts(tracker: Tracker) -> dict:
    """Everything the web layer can read, as plain data."""
    return {
        "cars": [car.summary() for car in tracker.cars.values()],
        "laps": {key: [lap.as_dict() for lap in tracker.car_laps(key)] for key in tracker.cars},
        "stops": [stop.as_dict() for stop in tracker.pit_stops()],
        "stints": [stint.as_dict() for stint in tracker.stints()],
        "drive_times": tracker.drive_times(),
        "bests": tracker.bests.as_dict(),
        "feed": tracker.feed,
        "conditions": tracker.conditions,
        "classification": tracker.classification(),
        "missing": tracker.missing_laps(),
        "phase": tracker.phase,
        "flags": tracker.sector_flags,
    }


def stored(events) -> list[dict]:
    """What the store keeps and reads back: JSON rows."""
    return [orjson.loads(orjson.dumps(event_to_dict(e))) for e in events]


def split_points(script) -> list[tuple[float, float]]:
    """(restore at, observe until): inside a garage visit (for 5 minutes), inside a stop (car
    in its box) and just before a swap (both to the end, where the facts are compared)."""
    visits = [v for car in script.cars for v in car.pits]
    late, end = script.final_et() - 1200, script.final_et()
    in_garage = next(v.garage_in_et + 5.0 for v in visits if v.garage_in_et and v.garage_out_et)
    in_box = next(v.stop_et + 2.0 for v in visits if v.stop_et and v.stop_et > late)
    swapping = next(v.swap_et - 0.5 for v in visits if v.swap_et and v.swap_et > late)
    return [
        (round(in_garage), round(in_garage) + 300),
        (round(in_box), end),
        (round(swapping), end),
    ]


def test_restored_tracker_continues_identically(race_1s):
    script = race_1s.script
    final = facts(race_1s.tracker)
    observer = Observer(script, player_slot=race_1s.player_slot)
    for split, until in split_points(script):
        before = [e for e in race_1s.events if e.et <= split]
        after = [e for e in race_1s.events if split < e.et <= until]
        tracker = Tracker.restore(script.session, script.track.length, stored(before))
        resumed = run(tracker, observer, ets(split + 1.0, until, 1.0))
        assert resumed == after, split
        assert len(after) > 20
        if until == script.final_et():
            assert facts(tracker) == final, split


def test_observations_repeated_or_older_are_ignored(race_1s):
    script = race_1s.script
    observer = Observer(script)
    tracker = Tracker(script.session, script.track.length)
    run(tracker, observer, ets(0.0, 900.0, 1.0))
    state = observer.state(900.0)
    assert tracker.observe(state, 900.0) == []
    assert tracker.observe(observer.state(850.0), 850.0) == []
    restored = Tracker.restore(script.session, script.track.length, [])
    assert restored.cars == {}


def test_every_event_type_round_trips_through_json(race_1s):
    seen = {e.kind for e in race_1s.events}
    # a hole in the observations or a full-course yellow makes the others (see test_tracking_rules)
    rare = {"laps_missed", "pit_stop_recovered", "lap_updated", "full_course_yellow"}
    assert set(EVENT_TYPES) - seen <= rare
    for event in race_1s.events:
        assert event_from_dict(stored([event])[0]) == event
