"""Stints, drive time and bests through the real simulator, against the script's own numbers."""

from __future__ import annotations

import itertools

import pytest
from sim_observations import car_key, reported_lap


def driven(car) -> dict[str, float]:
    """Seconds each driver drove a scripted car: from the first lap's start to the last line
    crossing (or retirement), without garage time, split at the swaps."""
    if not car.laps:
        return {}
    start = car.laps[0].start_et
    end = car.laps[-1].end_et
    garages = [
        (v.garage_in_et, v.garage_out_et or float("inf")) for v in car.pits if v.garage_in_et
    ]
    if car.finish_status == "FSTAT_DNF":
        end = min(g[0] for g in garages if g[0] >= car.laps[-1].end_et)
    swaps = sorted((v.swap_et, v.driver_in) for v in car.pits if v.driver_in)
    marks = [(start, car.first_driver), *swaps, (end, None)]
    out: dict[str, float] = {}
    for (a, driver), (b, _) in itertools.pairwise(marks):
        off = sum(max(0.0, min(b, g1) - max(a, g0)) for g0, g1 in garages)
        out[driver] = out.get(driver, 0.0) + (b - a) - off
    return out


def test_drive_time_adds_up_to_the_time_driven(race_1s):
    run = race_1s
    times = run.tracker.drive_times()
    swapped = 0
    for car in run.script.cars:
        want = driven(car)
        got = times[car_key(car)]
        assert set(got) == set(want), car_key(car)
        # each boundary (swap, garage) is seen at the first observation after it
        slack = run.spacing * (1 + len([v for v in car.pits if v.driver_in or v.garage_in_et]))
        assert sum(got.values()) == pytest.approx(sum(want.values()), abs=slack)
        for driver, seconds in want.items():
            assert got[driver] == pytest.approx(seconds, abs=slack), (car_key(car), driver)
        swapped += len(want) > 1
    assert swapped >= 2


def test_stints_split_at_swaps_and_garage_and_hold_their_laps(race_1s):
    run = race_1s
    for car in run.script.cars:
        key = car_key(car)
        stints = run.tracker.stints(key)
        boundaries = [v for v in car.pits if v.driver_in or v.garage_in_et is not None]
        assert len(stints) == 1 + len([v for v in boundaries if v.garage_out_et or v.driver_in])
        assert sum(s.laps for s in stints) == len(car.laps)
        for stint in stints:
            laps = [
                lap
                for lap in run.tracker.car_laps(key)
                if stint.first_lap is not None and stint.first_lap <= lap.lap <= stint.last_lap
            ]
            assert {lap.driver for lap in laps} <= {stint.driver}
            valid = [lap.lap_time for lap in laps if lap.valid]
            assert stint.best_lap == (min(valid) if valid else None)
            if valid:
                assert stint.average_lap == pytest.approx(sum(valid) / len(valid), abs=1e-3)
        assert stints[-1].ended_by in ("finish", "garage")


def test_bests_are_the_minima_of_the_valid_laps(race_1s):
    run = race_1s
    bests = run.tracker.bests
    by_class: dict[str, list] = {}
    for car in run.script.cars:
        key = car_key(car)
        rows = [(reported_lap(lap), lap.driver) for lap in car.laps if lap.lap_time > 0]
        by_class.setdefault(car.entry.car_class, []).extend(rows)
        assert_best(bests.by_car[key], rows)
        for driver in {d for _, d in rows}:
            assert_best(bests.by_driver[(key, driver)], [r for r in rows if r[1] == driver])
    for car_class, rows in by_class.items():
        assert_best(bests.by_class[car_class], rows)


def assert_best(best, rows) -> None:
    for i, name in enumerate(("lap", "s1", "s2", "s3")):
        values = [times[i] for times, _ in rows if times[i] > 0]
        got = getattr(best, name)
        assert (got[0] if got else None) == pytest.approx(min(values) if values else None, abs=2e-3)


def test_best_events_follow_the_improvements(race_1s):
    run = race_1s
    class_bests = [e for e in run.events if e.kind == "class_best"]
    for car_class, best in run.tracker.bests.by_class.items():
        last = [e for e in class_bests if e.car_class == car_class][-1]
        assert last.lap_time == best.lap[0]
        times = [e.lap_time for e in class_bests if e.car_class == car_class]
        assert times == sorted(times, reverse=True)
    personal = [e for e in run.events if e.kind == "personal_best" and e.scope == "car"]
    for key, best in run.tracker.bests.by_car.items():
        assert [e for e in personal if e.car == key][-1].lap_time == best.lap[0]
