"""The truth test: every recorded race through simulator -> client -> server -> SQLite.

Each race of the reference DB (session type `RACE%`) is replayed by the real simulator, read by
one real `ClientApp` over real sockets (the game's REST port and push websocket), streamed to a
real server (`LiveSessions`, uvicorn, SQLite in `tmp_path`), and what the server STORED is read
back from its database and compared with what was RECORDED:

- laps: every recorded lap with a time has a stored lap (same car, same number) with the same
  lap time and sectors within 0.01 s, as far as the game's cumulative splits show them
  (`truth_harness.shown`); target >= 99 %;
- pit stops: every recorded pit row is found among the car's stored stops (its lap, its times
  within a step; `truth_harness.pit_found`); target: all;
- classification: the stored order (laps, then the end ET of the last lap, then the grid) is the
  recorded one (`CarStates.LapsCompleted`, then the ET its last lap ended, then the grid); the
  order of a tracker restored from the stored events must be the same.

Time is stepped by the test (`truth_harness` docstring): the client ticks every STEP seconds of
game time, the server (its own process) acks within a few messages, and the race runs as fast
as the two cores allow after a start at 1x (the server confirms a new session over 2 real
seconds). STEP is 2 s for the 50-minute races and 3 s for the 4-hour one: every pit phase the
tracker must see (a lane entry, a box, a garage visit at the flag) lasts longer than that in
these recordings, so none is missed (at 3 s all 187 Algarve rows are found, as at 2 s), and
3 s keeps the 4-hour race at ~4 900 ticks (~13 ms each) within the time budget; the lap history
backfill is not needed (the table shows it stays 0). Run with `-s` to see the table.
"""

from __future__ import annotations

import contextlib
import copy
import time

import pytest
from core_harness import assert_events_in_order, read_db, run
from truth_harness import (
    Stored,
    car_key,
    compare,
    play,
    recorded,
    recorded_races,
    shown,
    stored,
)

from sim.replay import load_session

SHORT_STEP = 2.0  # s of game time per client tick, races up to 90 minutes
LONG_STEP = 3.0  # ... longer races (the 4-hour one)
LONG_RACE = 5400.0
RACE_TIMEOUT = 300.0  # wall seconds one race may take (about 60 s on an idle 2-core machine)


@pytest.mark.slow
@pytest.mark.timeout(700)
def test_recorded_races_end_to_end_store_what_was_recorded(tmp_path, recorded_db):
    races = recorded_races(recorded_db)
    assert len(races) >= 3, races
    results = []
    started = time.perf_counter()
    for session_id, track in races:
        where = tmp_path / session_id
        where.mkdir()
        script = load_session(recorded_db, session_id)
        step = LONG_STEP if script.final_et() > LONG_RACE else SHORT_STEP
        played = run(play(script, where, step), RACE_TIMEOUT)
        got = stored(played.database)
        assert len(got.session_ids) == 1, f"{track}: {got.session_ids}"
        with contextlib.closing(read_db(played.database)) as conn:
            assert_events_in_order(conn, got.session_ids[0])
        truth = recorded(recorded_db, session_id)
        result = compare(track, truth, got, played.script, slack=step + 0.5)
        results.append((result, played, step))
    total = time.perf_counter() - started

    print(f"\n{'race':32s} {'step':>5s} {'ticks':>6s} {'wall':>7s}  comparison")
    for result, played, step in results:
        print(
            f"{result.track:32s} {step:4.0f}s {played.ticks:6d} {played.wall:6.1f}s  "
            f"{result.line()} | backfills {played.backfills}"
        )
    print(f"{'all races':32s} {'':5s} {'':6s} {total:6.1f}s")

    for result, _, _ in results:
        assert result.laps_matched >= 0.99 * result.laps_recorded, (
            result.track,
            result.unmatched_laps[:10],
        )
        assert result.pits_found == result.pits_recorded, (result.track, result.missing_pits)
        assert result.order_equal, (result.track, result.order)
        assert result.replay_equal, result.track


def test_the_comparison_sees_a_lost_lap_a_lost_stop_and_a_wrong_order(recorded_db):
    """The comparison itself can fail: a store made from the recording matches it in full, and
    each damage (a lap gone, a sector off, a stop moved, the winner without laps) shows."""
    session_id, track = recorded_races(recorded_db)[1]
    script = load_session(recorded_db, session_id)
    truth = recorded(recorded_db, session_id)
    grid = {car_key(car): car.grid_position for car in script.cars}
    laps, stops, cars = {}, {}, {}
    for key, car in truth.items():
        script_car = next(c for c in script.cars if car_key(c) == key)
        for lap in script_car.laps:  # where the replay ends each lap; the times: recorded
            laps[(key, lap.number)] = {"end_et": lap.end_et, "lap_time": -1.0}
        for number, total, s1, s2, s3 in car.laps:
            times = zip(("lap_time", "s1", "s2", "s3"), shown(total, s1, s2, s3), strict=True)
            laps[(key, number)].update(times)
        stops[key] = [
            {"lap": max(lap, 1), "closed": 1, "entry_et": None, "stop_et": None,
             "release_et": None, "exit_et": None, "garage_out_et": None,
             "garage_in_et": next((t for t in times if t is not None and t >= 0), None)}
            for lap, *times in car.pits
        ]  # fmt: skip
        slot = int(key.split("-", 1)[0])
        cars[key] = {"laps": car.done, "grid": grid[key], "slot": slot}
    clean = Stored(["s"], laps, stops, cars, [])
    clean.replayed_order = clean.order()
    result = compare(track, truth, clean, script, slack=2.5)
    assert (result.laps_matched, result.pits_found) == (result.laps_recorded, result.pits_recorded)
    assert result.order_equal and result.replay_equal

    key, number = next(k for k in laps if "lap_time" in laps[k])
    damaged = copy.deepcopy(clean)
    del damaged.laps[(key, number)]
    assert compare(track, truth, damaged, script, 2.5).laps_matched == result.laps_recorded - 1
    damaged = copy.deepcopy(clean)
    damaged.laps[(key, number)]["s1"] += 0.02
    assert compare(track, truth, damaged, script, 2.5).laps_matched == result.laps_recorded - 1
    car = next(k for k, v in stops.items() if any(s["garage_in_et"] for s in v))
    damaged = copy.deepcopy(clean)
    for stop in damaged.stops[car]:
        if stop["garage_in_et"] is not None:
            stop["garage_in_et"] += 60.0
    assert compare(track, truth, damaged, script, 2.5).pits_found < result.pits_recorded
    damaged = copy.deepcopy(clean)
    damaged.cars[clean.order()[0]]["laps"] = 0  # the winner stored without laps
    assert not compare(track, truth, damaged, script, 2.5).order_equal
