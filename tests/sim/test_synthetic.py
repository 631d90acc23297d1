"""The seeded race generator: determinism and the invariants the engine relies on."""

from __future__ import annotations

import dataclasses
import re
import time
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.names import HTML_DRIVER
from sim.script import (
    CAR_CLASSES,
    PHASE_CHECKERED,
    PHASE_FCY,
    PHASE_GREEN,
    CarScript,
    SessionScript,
)
from sim.synthetic import generate_session, generate_weekend, qualifying_order

BADGES = {
    "none", "sr-noob", "sr-rookie", "sr-clean", "sr-saint", "sr-warning", "sr-danger",
    "sr-probation", "s397", "irl-driver", "content-creator", "test-driver", "early-access",
}  # fmt: skip
ROLES = {"Driver", "Race Engineer", "Owner"}


@pytest.fixture(scope="module")
def race() -> SessionScript:
    return generate_session(seed=11, cars=24, duration=4 * 3600)


@pytest.fixture(scope="module")
def weekend():
    return generate_weekend(seed=5, cars=16, race_duration=3600)


# --- helpers ----------------------------------------------------------------------------------


def _lap_for(car: CarScript, number: int):
    return next((lap for lap in car.laps if lap.number == number), None)


def _driver_at(car: CarScript, et: float) -> str:
    driver = car.first_driver
    for visit in sorted(car.pits, key=lambda v: v.swap_et or 0.0):
        if visit.swap_et is not None and visit.driver_in and visit.swap_et <= et:
            driver = visit.driver_in
    return driver


def check_invariants(script: SessionScript) -> None:
    """Everything that must hold for any generated session."""
    slots = [c.entry.slot_id for c in script.cars]
    assert slots == list(range(len(script.cars)))
    html = 0
    for car in script.cars:
        entry = car.entry
        assert entry.car_class in CAR_CLASSES
        assert re.fullmatch(r"[0-9a-f]{40}", entry.car_id)
        assert re.fullmatch(r"\d{1,3}", entry.car_number)
        assert 1 <= len(entry.members) <= 4
        drivers = [m.name for m in entry.members if "Driver" in m.roles]
        assert drivers, "every car needs a member with the Driver role"
        assert car.first_driver in drivers
        for m in entry.members:
            assert m.badge in BADGES and set(m.roles) <= ROLES
            assert m.nationality == "" or re.fullmatch(r"[A-Z]{2}", m.nationality)
        html += sum(1 for m in entry.members if m.name == HTML_DRIVER)
        if script.online:
            assert all(10**16 <= sid < 10**17 for sid in entry.steam_ids.values())
        _check_car(script, car, drivers)
    assert html == 1
    assert [p.et for p in script.phases] == sorted(p.et for p in script.phases)
    assert [c.et for c in script.conditions] == sorted(c.et for c in script.conditions)
    assert [c.et for c in script.chat] == sorted(c.et for c in script.chat)
    for line in script.chat:
        assert re.fullmatch(r"\S{1,2} ?[^:]{0,14}: .+", line.message), line.message
        assert isinstance(line.timestamp, int) and line.timestamp > 10**16
    for cond in script.conditions:
        assert 0.0 <= cond.wetness_min <= cond.wetness_avg <= cond.wetness_max <= 1.0
        assert 0.0 <= cond.raining <= 1.0
    keys = ["Duration", "Humidity", "RainChance", "Sky", "StartTime", "Temperature",
            "WindDirection", "WindSpeed"]  # fmt: skip
    assert script.weather_nodes
    for node in script.weather_nodes:
        assert list(node) == keys and all(isinstance(v, int) for v in node.values())


def _check_car(script: SessionScript, car: CarScript, drivers: list[str]) -> None:
    laps = car.laps
    garage_outs = {v.garage_out_et for v in car.pits if v.garage_out_et is not None}
    for i, lap in enumerate(laps):
        assert lap.number == i + 1
        assert all(s > 0 for s in lap.sectors)
        if lap.lap_time != -1 and -1 not in lap.sector_times:
            assert sum(lap.sector_times) == lap.lap_time
            assert lap.lap_time == lap.duration
        if lap.lap_time == -1:
            assert lap.sector_times == (-1.0, -1.0, -1.0)
        assert 0.0 <= lap.fuel_end <= 1.0
        assert lap.ve_end is None or 0.0 <= lap.ve_end <= 1.0
        assert (lap.ve_end is None) == (not car.entry.has_virtual_energy)
        assert all(0 < w <= 100 for w in lap.tyre_wear_end)
        assert lap.driver in drivers
        assert lap.driver == _driver_at(car, lap.end_et)
        if i > 0:
            prev = laps[i - 1]
            if lap.start_et in garage_outs:
                assert lap.start_et > prev.end_et
            else:
                assert lap.start_et == prev.end_et  # exactly
    for visit in car.pits:
        times = [
            t
            for t in (visit.request_et, visit.entry_et, visit.stop_et, visit.release_et,
                      visit.exit_et)
            if t is not None
        ]  # fmt: skip
        assert times == sorted(times), visit
        if visit.garage_in_et is not None and visit.entry_et is not None:
            assert visit.entry_et <= visit.garage_in_et
        if visit.garage_out_et is not None:
            assert visit.garage_in_et is not None and visit.garage_in_et <= visit.garage_out_et
            if visit.exit_et is not None:
                assert visit.garage_out_et <= visit.exit_et
        if visit.swap_et is not None:
            assert visit.driver_in in drivers
        is_garage_run = visit.garage_in_et is not None and visit.stop_et is None
        if visit.entry_et is not None and not (is_garage_run and not script.is_race):
            in_lap = _lap_for(car, visit.lap)
            assert in_lap is not None
            assert in_lap.start_et <= visit.entry_et <= in_lap.end_et
            if visit.exit_et is not None:
                out_lap = _lap_for(car, visit.lap + 1)
                assert out_lap is not None
                assert out_lap.start_et <= visit.exit_et <= out_lap.end_et
        if visit.fuel_after is not None and script.is_race:
            before = _lap_for(car, visit.lap - 1)
            after = _lap_for(car, visit.lap + 1)
            if before and after:
                assert after.fuel_end > before.fuel_end - 1e-9
    for pen in car.penalties:
        assert pen.kind in ("DT", "SG", "TIME")
        if pen.served_et is not None:
            assert pen.served_et >= pen.et
            assert any(v.penalty_served == pen.kind for v in car.pits)


# --- determinism ------------------------------------------------------------------------------


def test_same_seed_same_script() -> None:
    a = generate_session(seed=42, cars=12, duration=1800)
    b = generate_session(seed=42, cars=12, duration=1800)
    assert dataclasses.asdict(a) == dataclasses.asdict(b)


def test_different_seeds_differ() -> None:
    a = generate_session(seed=1, cars=12, duration=1800)
    b = generate_session(seed=2, cars=12, duration=1800)
    assert dataclasses.asdict(a) != dataclasses.asdict(b)
    assert [c.entry.car_id for c in a.cars] != [c.entry.car_id for c in b.cars]


def test_weekend_is_deterministic() -> None:
    a = generate_weekend(seed=9, cars=8, race_duration=1800, practice_duration=900)
    b = generate_weekend(seed=9, cars=8, race_duration=1800, practice_duration=900)
    assert dataclasses.asdict(a) == dataclasses.asdict(b)


# --- races ------------------------------------------------------------------------------------


def test_race_invariants(race: SessionScript) -> None:
    check_invariants(race)


def test_race_positions_are_a_permutation_per_lap(race: SessionScript) -> None:
    by_number: dict[int, list[int]] = {}
    for car in race.cars:
        for lap in car.laps:
            by_number.setdefault(lap.number, []).append(lap.position)
    for positions in by_number.values():
        assert sorted(positions) == list(range(1, len(positions) + 1))


def test_race_start_and_finish(race: SessionScript) -> None:
    assert 60 <= race.start_et <= 95
    assert race.phase_at(race.start_et) == PHASE_GREEN
    assert race.phase_at(race.start_et - 1) < PHASE_GREEN
    assert race.checkered_et() == race.max_time
    firsts = sorted(race.cars, key=lambda c: c.grid_position)
    starts = [c.laps[0].start_et for c in firsts]
    assert starts == sorted(starts) and starts[0] == race.start_et
    assert sorted(c.grid_position for c in race.cars) == list(range(1, len(race.cars) + 1))
    finished = [c for c in race.cars if c.finish_status == "FSTAT_FINISHED"]
    assert finished
    flag = min(c.finish_et for c in finished)
    assert flag > race.max_time
    for car in finished:
        assert car.finish_et == car.laps[-1].end_et
        assert car.laps[-1].end_et >= flag
        assert len(car.laps) < 2 or car.laps[-2].end_et < flag
    # The winner is the car with most laps that crossed first.
    winner = min(finished, key=lambda c: (-len(c.laps), c.laps[-1].end_et))
    assert winner.finish_et == flag
    for car in race.cars:
        assert car.finish_status in ("FSTAT_FINISHED", "FSTAT_DNF")
        if car.finish_status == "FSTAT_DNF":
            assert car.finish_et is not None and car.finish_et < race.max_time
            assert car.pits[-1].garage_in_et == car.finish_et
    assert set(race.sector_flags[-1].flags) in ({"RED"}, {"YELLOW"})


def test_race_pit_stops_refuel_swap_and_change_tyres(race: SessionScript) -> None:
    stops = [v for c in race.cars for v in c.pits if v.stop_et is not None]
    assert len(stops) >= len(race.cars)  # a 4-hour race needs stops
    for visit in stops:
        assert 0 < visit.stationary_time <= 60.0 + 1e-9 or visit.penalty_served == "SG"
    assert any(v.driver_in for v in stops)
    assert any(all(v.tyres_changed) for v in stops)
    assert any(v.stuck_exiting for v in stops) and not all(v.stuck_exiting for v in stops)
    for car in race.cars:
        for visit in car.pits:
            if visit.fuel_after is not None:
                assert visit.fuel_after == 1.0
            if visit.compounds_after is not None:
                lap = _lap_for(car, visit.lap + 1)
                assert lap is None or lap.compounds == visit.compounds_after


def test_fcy_in_long_races_slows_laps() -> None:
    script = generate_session(seed=3, cars=10, duration=6 * 3600)
    fcy = [p for p in script.phases if p.phase == PHASE_FCY]
    assert fcy
    start = fcy[0].et
    end = next(p.et for p in script.phases if p.et > start)
    assert script.phase_at(end) == PHASE_GREEN
    during = [
        lap.duration
        for car in script.cars
        for lap in car.laps
        if lap.start_et >= start and lap.end_et <= end + 200 and lap.start_et < end
    ]
    normal = sorted(lap.duration for car in script.cars for lap in car.laps)
    median = normal[len(normal) // 2]
    assert during and max(during) > median * 1.2
    assert set(next(f for f in script.sector_flags if f.et == start).flags) == {"YELLOW"}


def test_quirks_show_up() -> None:
    script = generate_session(seed=8, cars=40, duration=6 * 3600)
    laps = [lap for car in script.cars for lap in car.laps]
    invalid = sum(1 for lap in laps if lap.lap_time == -1) / len(laps)
    assert 0.01 < invalid < 0.06
    missing = [lap for lap in laps if lap.lap_time > 0 and -1 in lap.sector_times]
    assert missing
    assert any(c.finish_status == "FSTAT_DNF" for c in script.cars)
    assert any(c.penalties for c in script.cars)
    served = [v for c in script.cars for v in c.pits if v.penalty_served]
    assert served


def test_rain_brings_wet_tyres() -> None:
    for seed in range(40):
        script = generate_session(seed=seed, cars=6, duration=8 * 3600)
        wet = [c for c in script.conditions if c.wetness_avg > 0.5]
        if wet:
            break
    else:
        pytest.fail("no seed below 40 produced rain in an 8-hour race")
    compounds = {
        lap.compounds[0]
        for car in script.cars
        for lap in car.laps
        if wet[0].et <= lap.start_et <= wet[-1].et
    }
    assert "Wet" in compounds


def test_entry_list_mix() -> None:
    script = generate_session(seed=21, cars=60, duration=1800)
    classes = Counter(c.entry.car_class for c in script.cars)
    assert len(classes) >= 4
    numbers = [c.entry.car_number for c in script.cars]
    assert len(set(numbers)) == len(numbers)
    assert any(n.startswith("0") for n in numbers)
    names = [m.name for c in script.cars for m in c.entry.members]
    assert len(set(names)) == len(names)
    assert any(any(ord(ch) > 127 for ch in n) for n in names)
    assert any(len(c.entry.members) == 4 for c in script.cars)
    single = generate_session(seed=21, cars=10, duration=1800, classes=["GT3"])
    assert {c.entry.car_class for c in single.cars} == {"GT3"}


def test_explicit_grid_and_start() -> None:
    grid = [3, 1, 0, 2]
    script = generate_session(seed=4, cars=4, duration=1800, grid=grid, start_et=70.0)
    assert script.start_et == 70.0
    order = [c.entry.slot_id for c in sorted(script.cars, key=lambda c: c.laps[0].start_et)]
    assert order == grid
    with pytest.raises(ValueError):
        generate_session(seed=4, cars=4, duration=1800, grid=[0, 1, 2])


def test_offline_session_has_ai_cars() -> None:
    script = generate_session(seed=6, cars=8, duration=1800, online=False)
    check_invariants(script)
    assert not script.online
    assert all(v == 0 for c in script.cars[1:] for v in c.entry.steam_ids.values())


# --- practice, qualifying, weekend ------------------------------------------------------------


def test_practice_runs_from_the_garage() -> None:
    script = generate_session(seed=12, session="PRACTICE1", cars=12, duration=3300)
    check_invariants(script)
    assert script.start_et == 30.0 and script.checkered_et() == 3300.0
    for car in script.cars:
        assert car.start_in_garage and car.grid_position == -1
        assert car.laps
        assert car.laps[0].lap_time == -1  # out-lap from the garage
        for visit in car.pits:
            if visit.garage_out_et is not None:
                out = next(lap for lap in car.laps if lap.start_et == visit.garage_out_et)
                assert out.lap_time == -1
        if car.finish_status == "FSTAT_FINISHED":
            assert car.finish_et == car.laps[-1].end_et >= script.max_time
            assert len(car.laps) < 2 or car.laps[-2].end_et < script.max_time
        else:
            assert car.laps[-1].end_et < script.max_time
    assert any(c.pits for c in script.cars)


def test_weekend_sessions_share_entries_and_quali_sets_grid(weekend) -> None:
    names = [s.session for s in weekend.sessions]
    assert names == ["PRACTICE1", "QUALIFY1", "RACE1"]
    entries = [[dataclasses.asdict(c.entry) for c in s.cars] for s in weekend.sessions]
    assert entries[0] == entries[1] == entries[2]
    assert len({s.track.name for s in weekend.sessions}) == 1
    quali, race = weekend.sessions[1], weekend.sessions[2]
    grid = qualifying_order(quali)
    assert [c.entry.slot_id for c in sorted(race.cars, key=lambda c: c.grid_position)] == grid
    best = {
        c.entry.slot_id: min((lap.lap_time for lap in c.laps if lap.lap_time > 0), default=1e9)
        for c in quali.cars
    }
    assert [best[s] for s in grid] == sorted(best[s] for s in grid)
    for script in weekend.sessions:
        check_invariants(script)


# --- size and speed ---------------------------------------------------------------------------


def test_big_24h_race_is_fast() -> None:
    t0 = time.perf_counter()
    script = generate_session(seed=24, cars=60, duration=86400, track="Sebring School Circuit")
    elapsed = time.perf_counter() - t0
    assert elapsed < 20.0, f"60 cars x 24 h took {elapsed:.1f} s"
    assert script.time_of_day_start == 16 * 3600
    assert sum(len(c.laps) for c in script.cars) > 60 * 1000
    assert script.checkered_et() == 86400


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    cars=st.integers(min_value=1, max_value=30),
    duration=st.sampled_from([900.0, 1800.0, 3600.0, 2.5 * 3600]),
    session=st.sampled_from(["RACE1", "QUALIFY1", "PRACTICE1"]),
)
def test_any_seed_gives_a_consistent_script(
    seed: int, cars: int, duration: float, session: str
) -> None:
    script = generate_session(seed=seed, cars=cars, duration=duration, session=session)
    check_invariants(script)
    assert script.checkered_et() == duration
    assert any(p.phase == PHASE_CHECKERED for p in script.phases)


def test_boxes_past_the_line_stop_in_the_out_lap() -> None:
    seen = {True: 0, False: 0}
    for seed in range(12):
        script = generate_session(seed=seed, cars=6, duration=7200)
        after_line = script.track.pit_box > 1.0
        for car in script.cars:
            for visit in car.pits:
                if visit.stop_et is None:
                    continue
                in_lap = _lap_for(car, visit.lap)
                assert (visit.stop_et > in_lap.end_et) == after_line
                seen[after_line] += 1
    assert seen[True] and seen[False]


def test_weekend_is_hosted_by_one_game_server(weekend) -> None:
    """Practice, qualifying and race run on one server: trackers link them by server and track."""
    servers = {(s.server_name, s.server_port, s.max_players) for s in weekend.sessions}
    assert len(servers) == 1
