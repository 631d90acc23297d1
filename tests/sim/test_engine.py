"""The race engine: laps, timing, pits, energy, order, gaps and the session around them."""

from __future__ import annotations

import itertools
import math
import random
import time
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scripts import CarPlan, PitPlan, drive, simple_practice, simple_race

from sim.engine import Engine, evaluate, invalidate
from sim.script import (
    PHASE_CHECKERED,
    PHASE_FCY,
    PHASE_GREEN,
    ChatLine,
    Conditions,
    Penalty,
    PhaseChange,
    PitVisit,
    SectorFlags,
)
from sim.snapshot import PIT_STATES, SessionLive

EPS = 1e-6


def pit_race():
    """Three cars; car 1 stops on lap 2 with a driver swap and fresh tyres, car 2 serves a
    drive-through on lap 3, car 0 stops on lap 4 and gets stuck in EXITING."""
    return simple_race(
        cars=3,
        laps=6,
        plans={
            0: CarPlan(lap_time=100.0, pits={4: PitPlan(stationary=20.0, stuck_exiting=True)}),
            1: CarPlan(
                lap_time=100.7,
                pits={
                    2: PitPlan(
                        swap_to="B Driver1",
                        compounds_after=("Soft", "Soft", "Soft", "Soft"),
                        tyres_changed=(True, True, True, True),
                    )
                },
            ),
            2: CarPlan(lap_time=101.4, pits={3: PitPlan(drive_through=True, penalty_served="DT")}),
        },
    )


def multiclass_race():
    return simple_race(cars=7, laps=6, classes=("Hyper", "GT3", "LMP2"), spread=1.3)


def states_over(script, slot, t0, t1, step=0.25):
    seq = []
    et = t0
    while et <= t1:
        state = evaluate(script, et).car(slot).pit_state
        if not seq or seq[-1] != state:
            seq.append(state)
        et += step
    return seq


def check_invariants(live: SessionLive) -> None:
    """Everything that must hold at any ET."""
    cars = live.cars
    assert sorted(c.position for c in cars) == list(range(1, len(cars) + 1))
    assert [c.position for c in cars] == list(range(1, len(cars) + 1))
    by_class: dict[str, list[int]] = {}
    for c in cars:
        by_class.setdefault(c.script.entry.car_class, []).append(c.class_position)
    for positions in by_class.values():
        assert positions == list(range(1, len(positions) + 1))
    leader = cars[0]
    assert leader.time_behind_leader == 0 and leader.laps_behind_leader == 0
    total = 0.0
    for k, c in enumerate(cars):
        assert c.pit_state in PIT_STATES
        assert c.sector in (1, 2, 3)
        assert 0.0 <= c.lap_distance <= live.script.track.length + EPS
        assert c.time_behind_leader >= 0 and c.time_behind_next >= 0
        assert c.time_behind_class_leader >= 0
        assert c.laps_behind_leader >= 0 and c.laps_behind_next >= 0
        assert c.laps_behind_class_leader >= 0
        if k:
            total += c.time_behind_next
        if live.script.is_race or c.best_lap_time > 0:
            assert abs(c.time_behind_leader - total) < 1e-6
        else:  # timed session, no time yet
            assert c.time_behind_leader == 0 and c.time_behind_next == 0
        if c.pit_state == "STOPPED" or c.in_garage:
            assert c.speed == 0
        if c.current_s2 >= 0:
            assert c.current_s1 >= 0 and c.current_s2 > c.current_s1
        if c.last_s2 >= 0 and c.last_lap_time > 0:
            assert c.last_s1 < c.last_s2 < c.last_lap_time
        if c.best_lap_time > 0:
            assert c.last_lap_time == -1 or c.best_lap_time <= c.last_lap_time + EPS
        assert 0.0 <= c.fuel <= 1.0
        assert sum(c.penalty_kinds.values()) == c.penalties
        assert len(c.completed_laps) == c.laps_completed or not c.script.laps
    if live.script.is_race and live.et >= live.script.start_et:
        running = [c for c in cars if c.finish_status == "FSTAT_NONE"]
        for a, b in itertools.pairwise(running):
            assert a.laps_completed >= b.laps_completed
            if a.laps_completed == b.laps_completed and not (a.in_garage or b.in_garage):
                assert a.lap_distance >= b.lap_distance - EPS


# -- laps and timing ---------------------------------------------------------------------------


def test_sector_splits_add_up_to_lap_times():
    script = simple_race(cars=2, laps=4)
    for car in script.cars:
        slot = car.entry.slot_id
        for lap in car.laps:
            during = evaluate(script, lap.end_et - 0.01).car(slot)
            assert during.sector == 3
            assert during.current_s1 == lap.sectors[0]
            assert abs(during.current_s2 + lap.sectors[2] - lap.duration) < 1e-9
            after = evaluate(script, lap.end_et + 0.01).car(slot)
            if after.laps_completed != lap.number:  # finished: off the timing loop
                continue
            assert after.last_lap_time == lap.lap_time
            s3 = after.last_lap_time - after.last_s2
            assert abs(after.last_s1 - lap.sectors[0]) < 1e-9
            assert abs(s3 - lap.sectors[2]) < 1e-9
            assert after.current_s1 == -1 and after.current_s2 == -1 and after.sector == 1


def test_laps_completed_steps_exactly_at_the_line():
    script = simple_race(cars=2, laps=4)
    for car in script.cars:
        for lap in car.laps:
            before = evaluate(script, lap.end_et - 1e-6).car(car.entry.slot_id)
            at = evaluate(script, lap.end_et).car(car.entry.slot_id)
            assert before.laps_completed == lap.number - 1
            assert at.laps_completed == lap.number
            assert before.lap_start_et == lap.start_et
            assert at.lap_start_et == lap.end_et
            assert abs(before.lap_distance - script.track.length) < 0.01


def test_distance_maps_sector_ends_to_the_track():
    script = simple_race(cars=1, laps=2)
    lap = script.cars[0].laps[0]
    track = script.track
    car = evaluate(script, lap.start_et + lap.sectors[0]).car(0)
    assert abs(car.lap_distance - track.sector_ends[0] * track.length) < 1e-6
    assert car.sector == 2
    mid = evaluate(script, lap.start_et + lap.sectors[0] / 2).car(0)
    assert abs(mid.lap_distance - track.sector_ends[0] * track.length / 2) < 1e-6
    assert mid.speed > 0 and abs(mid.vx**2 + mid.vz**2 - mid.speed**2) < 1e-6


def test_before_the_start_cars_sit_on_the_grid():
    script = simple_race(cars=4, laps=3)
    script.cars[0].grid_position = 3
    script.cars[2].grid_position = 1
    invalidate(script)
    live = evaluate(script, 10.0)
    assert [c.slot_id for c in live.cars] == [2, 1, 0, 3]
    for c in live.cars:
        assert c.laps_completed == 0 and c.speed == 0 and not c.in_garage
        assert c.time_into_lap < 0  # time until the start, as the game shows
        assert c.lap_start_et == 0.0
        assert c.last_lap_time == -1 and c.best_lap_time == -1
    assert live.race_completion == -1
    assert live.time_remaining == script.max_time


def test_best_lap_and_best_sectors_so_far():
    plan = CarPlan(lap_time=100.0, invalid_laps=frozenset({2}), missing_s1_laps=frozenset({3}))
    car = drive(0, plan, 0.0, 5)
    script = simple_race(cars=1, laps=5)
    script.cars = [car]
    invalidate(script)
    laps = car.laps
    for done in range(1, 6):
        live = evaluate(script, laps[done - 1].end_et + 0.5).car(0)
        valid = [lap for lap in laps[:done] if lap.lap_time > 0]
        best = min(valid, key=lambda lap: lap.lap_time)
        assert live.best_lap_time == best.lap_time
        assert live.best_lap_s1 == (best.sector_times[0] if best.sector_times[0] > 0 else -1)
        s1s = [lap.sector_times[0] for lap in laps[:done] if lap.sector_times[0] > 0]
        s2s = [lap.sector_times[1] for lap in laps[:done]]
        assert live.best_sector1 == min(s1s)
        assert abs(live.best_sector2 - (min(s1s) + min(s2s))) < 1e-9
        last = laps[done - 1]
        assert live.last_lap_time == (last.lap_time if last.lap_time > 0 else -1)
        if done == 3:  # the lap with a missing S1 reports -1 splits
            assert live.last_s1 == -1 and live.last_s2 == -1 and live.last_lap_time > 0
        if done == 2:
            assert live.last_lap_time == -1 and live.estimated_lap_time == laps[0].lap_time


# -- pits ---------------------------------------------------------------------------------------


def test_pit_stop_state_sequence_and_standing_still():
    script = pit_race()
    visit = script.cars[1].pits[0]
    seq = states_over(script, 1, visit.request_et - 5, visit.exit_et + 5)
    assert seq == ["NONE", "REQUEST", "ENTERING", "STOPPED", "EXITING", "NONE"]
    spots = set()
    et = visit.stop_et
    while et < visit.release_et:
        car = evaluate(script, et).car(1)
        assert car.pit_state == "STOPPED" and car.pitting and car.speed == 0
        spots.add((round(car.lap_distance, 6), round(car.x, 6), round(car.z, 6)))
        et += 0.5
    assert len(spots) == 1
    box = script.track.pit_box * script.track.length
    assert abs(next(iter(spots))[0] - box) < 1e-6
    # the in-lap still takes its true time and the sector its true duration
    lap = script.cars[1].laps[1]
    assert evaluate(script, lap.end_et - 1e-6).car(1).laps_completed == 1
    assert evaluate(script, lap.end_et).car(1).laps_completed == 2
    assert evaluate(script, visit.stop_et).car(1).pitstops == 1
    assert evaluate(script, visit.stop_et - 0.01).car(1).pitstops == 0
    requested = evaluate(script, visit.request_et + 1).car(1)
    assert requested.pit_state == "REQUEST" and not requested.pitting


def test_drive_through_and_stuck_exiting():
    script = pit_race()
    dt = script.cars[2].pits[0]
    seq = states_over(script, 2, dt.request_et - 5, dt.exit_et + 5)
    assert seq == ["NONE", "REQUEST", "ENTERING", "NONE"]
    assert evaluate(script, dt.exit_et + 1).car(2).pitstops == 0
    stuck = script.cars[0].pits[0]
    seq = states_over(script, 0, stuck.request_et - 5, stuck.exit_et + 60)
    assert seq == ["NONE", "REQUEST", "ENTERING", "STOPPED", "EXITING"]
    late = evaluate(script, stuck.exit_et + 60).car(0)
    assert late.pit_state == "EXITING" and not late.pitting and late.speed > 0


def test_driver_changes_at_the_swap_and_stint_counts_swaps():
    script = pit_race()
    visit = script.cars[1].pits[0]
    before = evaluate(script, visit.swap_et - 0.01).car(1)
    after = evaluate(script, visit.swap_et).car(1)
    assert before.driver == "A Driver1" and before.stint == 1
    assert after.driver == "B Driver1" and after.stint == 2
    assert evaluate(script, 10_000).car(1).driver == "B Driver1"


def test_fuel_steps_only_at_sector_ends_and_jumps_at_release():
    script = pit_race()
    car = script.cars[1]
    visit = car.pits[0]
    steps = {visit.release_et}
    for lap in car.laps:
        s1 = lap.start_et + lap.sectors[0]
        steps |= {s1, s1 + lap.sectors[1], lap.end_et}
    prev = evaluate(script, 0.0).car(1)
    assert prev.fuel == car.start_fuel
    et = 0.0
    changes = []
    while et < car.laps[-1].end_et + 5:
        et += 0.1
        now = evaluate(script, et).car(1)
        if now.fuel != prev.fuel or now.compounds != prev.compounds:
            # the change happened within the last 0.1 s: at a sector end or the release
            assert any(et - 0.1 < s <= et + 1e-9 for s in steps), et
            changes.append((et, now.fuel - prev.fuel))
        prev = now
    assert [e for e, d in changes if d > 0] == [pytest.approx(visit.release_et, abs=0.11)]
    assert len(changes) > 3 * len(car.laps) - 2
    released = evaluate(script, visit.release_et).car(1)
    assert released.fuel == visit.fuel_after
    assert released.compounds == ("Soft",) * 4 and released.tyre_wear == (100.0,) * 4
    assert evaluate(script, visit.release_et - 0.01).car(1).compounds == ("Medium",) * 4


def test_in_garage_between_runs():
    script = simple_practice(cars=2, runs=2, laps_per_run=2)
    car = script.cars[0]
    end_run = car.laps[1].end_et
    next_run = car.laps[2].start_et
    for et in (end_run + 1, (end_run + next_run) / 2, next_run - 1):
        live = evaluate(script, et).car(0)
        assert live.in_garage and live.speed == 0
        assert live.laps_completed == 2
    driving = evaluate(script, next_run + 1).car(0)
    assert not driving.in_garage and driving.speed > 0 and driving.laps_completed == 2
    assert evaluate(script, 1.0).car(0).in_garage


def test_penalties_pending_until_served():
    script = pit_race()
    car = script.cars[2]
    car.penalties.append(Penalty(et=150.0, kind="DT", served_et=car.pits[0].exit_et))
    car.penalties.append(Penalty(et=200.0, kind="TIME"))
    assert evaluate(script, 149.0).car(2).penalties == 0
    mid = evaluate(script, 201.0).car(2)
    assert mid.penalties == 2 and mid.penalty_kinds == {"DT": 1, "SG": 0, "TIME": 1}
    late = evaluate(script, car.pits[0].exit_et).car(2)
    assert late.penalties == 1 and late.penalty_kinds["DT"] == 0


# -- order and gaps -----------------------------------------------------------------------------


def test_positions_and_gaps_consistent_through_a_multiclass_race():
    script = multiclass_race()
    for et in range(0, int(script.final_et()), 7):
        check_invariants(evaluate(script, float(et)))


def test_positions_at_the_line_match_recorded_order():
    script = simple_race(cars=4, laps=4, spread=2.0)
    for car in script.cars:
        for lap in car.laps:
            lap.position = car.entry.slot_id + 1  # steady pace: nobody overtakes
    for car in script.cars:
        for lap in car.laps[:-1]:
            live = evaluate(script, lap.end_et + 1e-6)
            assert live.car(car.entry.slot_id).position == lap.position


def test_time_gap_is_difference_at_the_same_timing_point():
    script = simple_race(cars=2, laps=4, spread=1.0)
    lead, chase = script.cars
    lap = chase.laps[1]
    et = lap.start_et + lap.sectors[0] + 0.5  # chase just past S1 of lap 2
    live = evaluate(script, et)
    second = live.car(1)
    expected = (lap.start_et + lap.sectors[0]) - (lead.laps[1].start_et + lead.laps[1].sectors[0])
    assert second.position == 2
    assert abs(second.time_behind_next - expected) < 1e-9
    assert abs(second.time_behind_leader - expected) < 1e-9
    assert second.laps_behind_leader == 0


def test_lapped_car_counts_laps_behind_and_sees_blue():
    script = simple_race(
        cars=2, laps=8, plans={0: CarPlan(lap_time=90.0), 1: CarPlan(lap_time=140.0)}
    )
    blues = Counter()
    max_behind = 0
    for et in range(63, int(script.checkered_et()), 1):
        live = evaluate(script, float(et))
        check_invariants(live)
        slow = live.car(1)
        max_behind = max(max_behind, slow.laps_behind_leader)
        blues[(slow.slot_id, slow.flag)] += 1
        assert live.car(0).flag == "GREEN"
        if slow.laps_behind_leader:
            # a lap in distance; the time gap is as old as the slow car's last timing point
            assert slow.time_behind_leader > 90.0 - 0.34 * 140.0
    assert max_behind >= 2
    assert blues[(1, "BLUE")] >= 2


def test_finished_cars_keep_their_finish_order():
    script = simple_race(cars=3, laps=3, spread=3.0)
    final = evaluate(script, script.final_et())
    assert [c.slot_id for c in final.cars] == [0, 1, 2]
    assert all(c.finish_status == "FSTAT_FINISHED" for c in final.cars)
    assert final.finished and final.phase == PHASE_CHECKERED
    assert final.time_remaining == 0 and final.race_completion == 1.0
    first = script.cars[0]
    assert evaluate(script, first.finish_et - 0.01).car(0).finish_status == "FSTAT_NONE"


def test_timed_session_orders_by_best_lap():
    script = simple_practice(cars=4, runs=2, laps_per_run=3, spread=-0.4)
    start = evaluate(script, 0.0)
    assert [c.slot_id for c in start.cars] == [0, 1, 2, 3]
    assert all(c.time_behind_leader == 0 for c in start.cars)
    end = evaluate(script, script.final_et())
    assert [c.slot_id for c in end.cars] == [3, 2, 1, 0]
    bests = [c.best_lap_time for c in end.cars]
    assert bests == sorted(bests)
    for a, b in itertools.pairwise(end.cars):
        assert abs(b.time_behind_next - (b.best_lap_time - a.best_lap_time)) < 1e-9
        assert b.laps_behind_leader == 0
    check_invariants(end)
    # midway: cars with a time ahead of cars without, those by slot
    first_timed = min(car.laps[1].end_et for car in script.cars)
    mid = evaluate(script, first_timed + 0.1)
    timed = [c for c in mid.cars if c.best_lap_time > 0]
    assert len(timed) == 1 and mid.cars[0] is timed[0]
    assert [c.slot_id for c in mid.cars[1:]] == sorted(c.slot_id for c in mid.cars[1:])


# -- session ------------------------------------------------------------------------------------


def test_session_fields_follow_the_script():
    script = simple_race(cars=2, laps=4)
    script.conditions = [
        Conditions(0.0, 20.0, 30.0, 0.0, 0.0, 0.0, 0.0, 0.0),
        Conditions(200.0, 10.0, 20.0, 1.0, 0.5, 0.4, 0.2, 0.6),
    ]
    script.sector_flags = [SectorFlags(150.0, ("UNKNOWN", "YELLOW", "UNKNOWN"))]
    script.chat = [ChatLine(100.0, "A Driver: hi", 1), ChatLine(300.0, "B Driver: yo", 2)]
    script.phases.insert(3, PhaseChange(320.0, PHASE_FCY))
    script.phases.insert(4, PhaseChange(340.0, PHASE_GREEN))
    script.time_of_day_start = 19 * 3600.0
    script.time_of_day_rate = 10.0
    invalidate(script)
    live = evaluate(script, 100.0)
    assert live.conditions.ambient_temp == 15.0 and live.conditions.raining == 0.5
    assert [c.message for c in live.chat] == ["A Driver: hi"]
    assert live.time_of_day == (19 * 3600.0 + 1000.0) % 86400
    assert abs(live.race_completion - (100.0 - 63.0) / script.max_time) < 1e-12
    assert live.time_remaining == script.max_time - (100.0 - 63.0)
    assert not any(c.headlights for c in live.cars)
    night = evaluate(script, 330.0)
    assert night.phase == PHASE_FCY and all(c.under_yellow for c in night.cars)
    assert all(c.headlights for c in night.cars)
    yellow = evaluate(script, 400.0)
    assert yellow.sector_flags == ("UNKNOWN", "YELLOW", "UNKNOWN")
    for c in yellow.cars:
        assert c.under_yellow == (c.sector == 2)
    assert len(evaluate(script, 300.0).chat) == 2


def test_same_et_gives_the_same_snapshot_and_growth_is_seen():
    script = pit_race()
    a, b = evaluate(script, 250.0), evaluate(script, 250.0)
    assert [(c.slot_id, c.lap_distance, c.fuel, c.time_behind_next) for c in a.cars] == [
        (c.slot_id, c.lap_distance, c.fuel, c.time_behind_next) for c in b.cars
    ]
    car = script.cars[0]
    extra = drive(0, CarPlan(), car.laps[-1].end_et, 1, first_number=car.laps[-1].number + 1)
    car.laps.append(extra.laps[0])
    car.reindex()
    assert evaluate(script, extra.laps[0].end_et).car(0).laps_completed == extra.laps[0].number


@settings(max_examples=150, deadline=None)
@given(et=st.floats(min_value=-10.0, max_value=1200.0, allow_nan=False))
def test_invariants_hold_at_any_et(et):
    for script in (PIT_RACE, MULTICLASS):
        check_invariants(evaluate(script, et))
    check_invariants(evaluate(PRACTICE, et * 3))


PIT_RACE = pit_race()
MULTICLASS = multiclass_race()
PRACTICE = simple_practice(cars=4)


def test_fast_enough_for_sixty_cars_and_a_day_of_laps():
    script = simple_race(cars=2, laps=2)
    script.cars = [
        drive(slot, CarPlan(lap_time=57.0 + slot * 0.05), 63.0, 1500) for slot in range(60)
    ]
    for car in script.cars:
        car.pits = [v for lap in car.laps[::30] for v in [_stop_on(lap)]]
    engine = Engine(script)
    end = script.cars[0].laps[-1].end_et
    rng = random.Random(7)
    ets = [rng.uniform(0, end) for _ in range(1000)]
    started = time.perf_counter()
    for et in ets:
        live = engine.evaluate(et)
    per_call = (time.perf_counter() - started) / len(ets)
    assert len(live.cars) == 60
    print(f"evaluate: {per_call * 1000:.2f} ms per call (60 cars x 1500 laps)")
    assert per_call < 0.02  # generous: a quadratic slip would be far slower


def _stop_on(lap):
    from sim.script import PitVisit

    stop = lap.start_et + lap.sectors[0] + lap.sectors[1] + 0.7 * lap.sectors[2]
    return PitVisit(
        lap=lap.number,
        request_et=lap.start_et + 1,
        entry_et=stop - 3,
        stop_et=stop,
        release_et=stop + 1,
        exit_et=lap.end_et + 2,
        fuel_after=1.0,
    )


def test_a_car_that_never_laps_reports_finite_values():
    """A car on the entry list that never drives (recorded races have some) must not leak inf."""
    script = simple_race(cars=3, laps=3)
    idle = script.cars[2]
    idle.laps = []
    idle.pits = [PitVisit(lap=1, garage_in_et=0.0)]
    idle.start_in_garage = True
    idle.reindex()
    for et in (0.0, 100.0, 1000.0):
        car = evaluate(script, et).car(idle.entry.slot_id)
        assert car is not None and car.in_garage
        values = (car.lap_start_et, car.time_into_lap, car.lap_distance, car.speed, car.x, car.z)
        assert all(math.isfinite(v) for v in values), values


def test_between_laps_a_car_drives_down_the_pit_lane_before_its_garage():
    """Entered the pit lane after its last lap and heading for the garage: pitting, not parked."""
    script = simple_race(cars=2, laps=4)
    car = script.cars[1]
    car.laps = car.laps[:2]
    car.finish_status, car.finish_et = "FSTAT_NONE", None  # mid-race, not a cool-down lap
    end = car.laps[-1].end_et
    car.pits = [PitVisit(lap=3, entry_et=end + 5.0, garage_in_et=end + 40.0)]
    car.reindex()
    invalidate(script)
    before = evaluate(script, end + 2.0).car(1)
    lane = evaluate(script, end + 10.0).car(1)
    later = evaluate(script, end + 12.0).car(1)
    parked = evaluate(script, end + 50.0).car(1)
    assert lane.pit_state == "ENTERING" and lane.pitting and not lane.in_garage
    assert lane.speed > 0 and later.lap_distance != lane.lap_distance
    assert parked.in_garage and parked.speed == 0.0
    assert before.laps_completed == lane.laps_completed == parked.laps_completed == 2
