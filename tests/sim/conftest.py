"""Hand-built races for the API layer's tests.

`small_race()` is a three-car online race written out by hand (laps, a pit stop with a driver
swap, a penalty, chat); `live_at(script, et)` builds the `SessionLive` the engine would give for
it, simply enough to check by eye. Render tests use these so they do not depend on the engine;
the end-to-end tests use the real engine, clock and generator.
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from netutil import free_port

from sim.script import (
    PHASE_FORMATION,
    PHASE_GREEN,
    CarScript,
    ChatLine,
    Conditions,
    Entry,
    Lap,
    Member,
    PhaseChange,
    PitVisit,
    SectorFlags,
    SessionScript,
    Track,
    TrackPoint,
    Weekend,
)
from sim.snapshot import CarLive, SessionLive

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / ".." / "shared"
RECORDED_DB = SHARED / "data" / "recorded-sessions.db"
RECORDED_RACE = "019d4a8b64b3704d95586c0be94e8a0d"

SECTORS = (30.0, 25.0, 35.0)  # a 90 s lap


def _track() -> Track:
    points = [TrackPoint(x=float(i), y=0.5, z=float(-i), type=0) for i in range(20)]
    points += [TrackPoint(x=1.0, y=0.0, z=2.0, type=1), TrackPoint(x=3.0, y=0.0, z=4.0, type=2)]
    return Track(name="Sebring School Circuit", length=3083.313, points=points)


def _laps(slot: int, driver: str, count: int, start: float) -> list[Lap]:
    laps = []
    et = start
    for n in range(1, count + 1):
        sectors = (SECTORS[0] + slot, SECTORS[1], SECTORS[2] + 0.5 * n)
        reported = sectors if n != 2 else (sectors[0], -1.0, sectors[2])  # missing-sector quirk
        laps.append(
            Lap(
                number=n,
                start_et=et,
                sectors=sectors,
                lap_time=sum(sectors) if not (slot == 2 and n == 3) else -1.0,
                sector_times=reported,
                driver=driver,
                fuel_end=1.0 - 0.03 * n,
                ve_end=1.0 - 0.04 * n if slot != 2 else None,
                compounds=("Medium",) * 4,
                tyre_wear_end=(100 - 2.0 * n,) * 4,
            )
        )
        et += sum(sectors)
    return laps


def small_race(*, online: bool = True, session: str = "RACE1") -> SessionScript:
    """Three cars, 60 s of formation then green at ET 60; car 0 stops on lap 2 and swaps."""
    cars = []
    teams = [
        ("Iron Dames", "85", "GT3"),
        ("Proton Competition", "77", "GT3"),
        ("AF Corse", "51", "LMP2"),
    ]
    for slot, (team, number, klass) in enumerate(teams):
        members = [Member(f"Driver {slot}A", "sr-clean", "FR"), Member(f"Driver {slot}B")]
        entry = Entry(
            slot_id=slot,
            vehicle_file=f"397_24_CAR{slot}",
            vehicle_name=f"{team} 2024 #{number}:LM",
            team_name=team,
            car_class=klass,
            car_number=number,
            car_id=f"{slot:040x}",
            team_id=f"0000000{slot}-aaaa-bbbb-cccc-dddddddddddd",
            members=members,
            has_virtual_energy=slot != 2,
            steam_ids={f"Driver {slot}A": 76561198000000000 + slot, f"Driver {slot}B": 0},
        )
        car = CarScript(
            entry=entry,
            laps=_laps(slot, f"Driver {slot}A", 4, 60.0),
            first_driver=f"Driver {slot}A",
            start_ve=1.0 if slot != 2 else None,
            grid_position=slot + 1,
        )
        cars.append(car)
    # Car 0 pits at the end of lap 2 (ET 60 + 90 + 91 = ~241) and hands over to Driver 0B.
    lap2_end = cars[0].laps[1].end_et
    cars[0].pits.append(
        PitVisit(
            lap=2,
            request_et=lap2_end - 60,
            entry_et=lap2_end - 8,
            stop_et=lap2_end - 5,
            release_et=lap2_end + 20,
            exit_et=lap2_end + 25,
            swap_et=lap2_end + 5,
            driver_in="Driver 0B",
            fuel_after=0.9,
            ve_after=0.95,
            tyres_changed=(True, True, False, False),
            compounds_after=("Soft", "Soft", "Medium", "Medium"),
        )
    )
    for lap in cars[0].laps[2:]:
        lap.driver = "Driver 0B"
    return SessionScript(
        session=session,
        track=_track(),
        cars=cars,
        max_time=3600.0,
        start_et=60.0,
        phases=[PhaseChange(0.0, PHASE_FORMATION), PhaseChange(60.0, PHASE_GREEN)],
        conditions=[Conditions(0.0, 22.0, 30.5, 0.0, 0.1, 0.0, 0.0, 0.0, 2.0, (0.6, 0.8))],
        sector_flags=[SectorFlags(0.0, ("UNKNOWN", "UNKNOWN", "UNKNOWN"))],
        chat=[
            ChatLine(100.0, "F Riley: Lorem", 17730571110904992),
            ChatLine(200.0, "E Dean: sit amet", 17730572110904992),
        ],
        online=online,
    )


def _car_at(car: CarScript, et: float) -> CarLive:
    done = [lap for lap in car.laps if lap.end_et <= et]
    current_start = done[-1].end_et if done else car.laps[0].start_et
    into = et - current_start
    s1, s2 = SECTORS[0] + car.entry.slot_id, SECTORS[1]
    sector = 1 if into < s1 else 2 if into < s1 + s2 else 3
    last = done[-1] if done else None
    pits = [p for p in car.pits if p.start_et <= et]
    driver = car.first_driver
    for p in pits:
        if p.driver_in and p.swap_et is not None and p.swap_et <= et:
            driver = p.driver_in
    pit_state, pitting = "NONE", False
    for p in pits:
        for state, t in (
            ("REQUEST", p.request_et),
            ("ENTERING", p.entry_et),
            ("STOPPED", p.stop_et),
            ("EXITING", p.release_et),
            ("NONE", p.exit_et),
        ):
            if t is not None and t <= et:
                pit_state = state
        pitting = pit_state in ("ENTERING", "STOPPED", "EXITING")
    valid = [lap for lap in done if lap.lap_time > 0]
    best = min(valid, key=lambda lap: lap.lap_time) if valid else None

    def cum(lap: Lap | None) -> tuple[float, float]:
        if lap is None:
            return -1.0, -1.0
        a, b, _ = lap.sector_times
        return (a if a >= 0 else -1.0, a + b if a >= 0 and b >= 0 else -1.0)

    last_s1, last_s2 = cum(last)
    best_s1, best_s2 = cum(best)
    fuel = last.fuel_end if last else car.start_fuel
    ve = (last.ve_end if last else car.start_ve) if car.entry.has_virtual_energy else None
    return CarLive(
        script=car,
        slot_id=car.entry.slot_id,
        driver=driver,
        position=0,
        class_position=0,
        laps_completed=len(done),
        lap_start_et=current_start,
        time_into_lap=into,
        lap_distance=min(1.0, into / 90.0) * 3083.313,
        sector=sector,
        current_s1=s1 if sector > 1 else -1.0,
        current_s2=s1 + s2 if sector > 2 else -1.0,
        last_lap_time=last.lap_time if last else -1.0,
        last_s1=last_s1,
        last_s2=last_s2,
        best_lap_time=best.lap_time if best else -1.0,
        best_lap_s1=best_s1,
        best_lap_s2=best_s2,
        best_sector1=best_s1,
        best_sector2=best_s2,
        estimated_lap_time=90.0,
        pit_state=pit_state,
        pitting=pitting,
        in_garage=False,
        pitstops=sum(1 for p in pits if p.release_et is not None and p.release_et <= et),
        penalties=1 if car.entry.slot_id == 1 and et > 150 else 0,
        penalty_kinds={"DT": 1} if car.entry.slot_id == 1 and et > 150 else {},
        finish_status="FSTAT_NONE",
        count_lap_flag=car.count_lap_flag,
        fuel=fuel,
        virtual_energy=ve,
        compounds=car.start_compounds,
        tyre_wear=(100.0,) * 4,
        laps_behind_leader=0,
        laps_behind_next=0,
        laps_behind_class_leader=0,
        time_behind_leader=0.0,
        time_behind_next=0.0,
        time_behind_class_leader=0.0,
        speed=50.0,
        x=float(car.entry.slot_id),
        y=0.5,
        z=-1.0,
        vx=30.0,
        vy=0.0,
        vz=-40.0,
        under_yellow=False,
        flag="GREEN",
        headlights=False,
        stint=1 + len([p for p in pits if p.release_et is not None and p.release_et <= et]),
        completed_laps=done,
        completed_pits=pits,
        total_race_time=max(0.0, et - 60.0),
    )


def live_at(script: SessionScript, et: float) -> SessionLive:
    """A simple stand-in for `sim.engine.evaluate`: cars ordered by laps then line time."""
    cars = [_car_at(car, et) for car in script.cars]
    cars.sort(key=lambda c: (-c.laps_completed, c.lap_start_et, c.slot_id))
    for pos, car in enumerate(cars, start=1):
        car.position = pos
        car.class_position = pos
        if pos > 1:
            car.time_behind_leader = 1.5 * (pos - 1)
            car.time_behind_next = 1.5
    phases = [p.et for p in script.phases]
    phase = script.phases[bisect.bisect_right(phases, et) - 1].phase if et >= 0 else 0
    return SessionLive(
        script=script,
        et=et,
        phase=phase,
        time_remaining=max(0.0, script.max_time - et),
        race_completion=max(0.0, (et - script.start_et) / script.max_time),
        sector_flags=("UNKNOWN", "UNKNOWN", "UNKNOWN"),
        conditions=script.conditions[0],
        time_of_day=script.time_of_day_start + et,
        cars=cars,
        chat=[line for line in script.chat if line.et <= et],
        finished=False,
    )


@dataclass
class Position:
    session_index: int
    et: float
    loading: bool
    over: bool


class ManualClock:
    """A clock a test sets by hand (the same interface as `sim.timeline.WeekendClock`)."""

    def __init__(self, session_index: int = 0, et: float = 0.0, loading: bool = False) -> None:
        self.now = Position(session_index, et, loading, False)
        self.speed = 1.0

    def position(self) -> Position:
        return self.now

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def set_speed(self, speed: float) -> None:
        self.speed = speed

    def jump(self, session_index: int, et: float) -> None:
        self.now = Position(session_index, et, False, False)


@pytest.fixture
def kit():
    return Kit


@pytest.fixture
def race() -> SessionScript:
    return small_race()


@pytest.fixture
def weekend() -> Weekend:
    return Weekend(sessions=[small_race(session="QUALIFY1"), small_race()], transition_seconds=5)


def wait_until(predicate, timeout: float = 5.0, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return False


class Kit:
    """The helpers above, handed to tests through the `kit` fixture (conftest is not imported)."""

    small_race = staticmethod(small_race)
    live_at = staticmethod(live_at)
    ManualClock = ManualClock
    free_port = staticmethod(free_port)
    wait_until = staticmethod(wait_until)
    SHARED = SHARED
    RECORDED_DB = RECORDED_DB
    RECORDED_RACE = RECORDED_RACE
    REPO = REPO

    @staticmethod
    def shared_db() -> Path:
        if not RECORDED_DB.exists():
            pytest.skip(f"reference data not available: {RECORDED_DB} is absent")
        return RECORDED_DB
