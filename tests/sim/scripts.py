"""Small hand-made race scripts for tests: deterministic, a few cars, a few laps.

`simple_race` builds a standing-start race where every car laps at its own steady pace (with a
small deterministic wobble), optional pit stops (`PitPlan`) and a checkered flag when the leader
completes the distance. `simple_practice` builds a timed session of garage runs. Both return
plain `SessionScript`s; tests and other helpers may tweak them afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sim.script import (
    PHASE_CHECKERED,
    PHASE_COUNTDOWN,
    PHASE_GREEN,
    PHASE_GRID,
    CarScript,
    Entry,
    Lap,
    Member,
    PhaseChange,
    PitVisit,
    SessionScript,
    Track,
    TrackPoint,
    Tyres,
    Weekend,
)

SPLIT = (0.33, 0.33, 0.34)  # share of a lap's time per sector
PIT_LANE_LOSS = 12.0  # s lost driving through the pit lane on top of the stationary time
DRIVE_THROUGH_LOSS = 18.0


def ring_track(length: float = 4000.0, name: str = "Test Ring", points: int = 200) -> Track:
    """A circular track of `length` metres with a type-0 racing line."""
    radius = length / (2 * math.pi)
    line = [
        TrackPoint(
            radius * math.cos(2 * math.pi * i / points),
            0.0,
            radius * math.sin(2 * math.pi * i / points),
            0,
        )
        for i in range(points)
    ]
    return Track(name=name, length=length, points=line)


def make_entry(slot: int, car_class: str = "GT3", drivers: Sequence[str] = ()) -> Entry:
    names = list(drivers) or [f"A Driver{slot}", f"B Driver{slot}"]
    return Entry(
        slot_id=slot,
        vehicle_file=f"TEST_{slot:02d}",
        vehicle_name=f"Test Team {slot} #{slot + 1}:LM",
        team_name=f"Test Team {slot}",
        car_class=car_class,
        car_number=str(slot + 1),
        car_id=f"{slot:040x}",
        team_id=str(1000 + slot),
        members=[Member(name) for name in names],
        steam_ids={name: 0 for name in names},
    )


@dataclass
class PitPlan:
    """A pit visit at the end of a lap: stop (with service), drive-through, or garage."""

    stationary: float = 25.0
    swap_to: str | None = None
    fuel_after: float | None = 1.0
    ve_after: float | None = 1.0
    compounds_after: Tyres | None = None
    tyres_changed: tuple[bool, bool, bool, bool] = (False, False, False, False)
    drive_through: bool = False
    stuck_exiting: bool = False
    penalty_served: str | None = None


@dataclass
class CarPlan:
    """How one car drives: pace, pits and reporting quirks (lap numbers are 1-based)."""

    lap_time: float = 100.0
    pits: Mapping[int, PitPlan] = field(default_factory=dict)
    invalid_laps: frozenset[int] = frozenset()
    missing_s1_laps: frozenset[int] = frozenset()
    fuel_per_lap: float = 0.03
    ve_per_lap: float = 0.04
    wear_per_lap: float = 2.0
    car_class: str = "GT3"
    compounds: Tyres = ("Medium", "Medium", "Medium", "Medium")


def _wobble(slot: int, number: int) -> float:
    """A deterministic lap-to-lap variation of a few tenths."""
    return ((number * 7 + slot * 3) % 5) * 0.1


def drive(
    slot: int,
    plan: CarPlan,
    start_et: float,
    laps: int,
    *,
    first_number: int = 1,
    start_fuel: float = 0.9,
    start_ve: float = 1.0,
    track: Track | None = None,
) -> CarScript:
    """A car that starts lap `first_number` at `start_et` and drives `laps` contiguous laps."""
    entry = make_entry(slot, plan.car_class)
    driver = entry.members[0].name
    car = CarScript(
        entry=entry,
        first_driver=driver,
        start_fuel=start_fuel,
        start_ve=start_ve,
        start_compounds=plan.compounds,
        grid_position=slot + 1,
    )
    et, fuel, ve = start_et, start_fuel, start_ve
    wear = 100.0
    compounds = plan.compounds
    for i in range(laps):
        number = first_number + i
        base = plan.lap_time + _wobble(slot, number)
        sectors = [base * s for s in SPLIT]
        pit = plan.pits.get(number)
        fuel = max(0.0, fuel - plan.fuel_per_lap)
        ve = max(0.0, ve - plan.ve_per_lap)
        wear = max(0.0, wear - plan.wear_per_lap)
        if pit is not None:
            visit = _visit(number, et, sectors, pit)
            sectors[2] += (
                DRIVE_THROUGH_LOSS if pit.drive_through else pit.stationary + PIT_LANE_LOSS
            )
            car.pits.append(visit)
        reported = list(sectors)
        if number in plan.missing_s1_laps:
            reported[0] = -1.0
        lap = Lap(
            number=number,
            start_et=et,
            sectors=(sectors[0], sectors[1], sectors[2]),
            lap_time=-1.0 if number in plan.invalid_laps else sum(sectors),
            sector_times=(reported[0], reported[1], reported[2]),
            driver=driver,
            fuel_end=fuel,
            ve_end=ve,
            compounds=compounds,
            tyre_wear_end=(wear, wear, wear, wear),
        )
        car.laps.append(lap)
        if pit is not None and not pit.drive_through:
            visit = car.pits[-1]
            if pit.fuel_after is not None:
                fuel = pit.fuel_after
            if pit.ve_after is not None:
                ve = pit.ve_after
            if pit.compounds_after is not None:
                compounds = pit.compounds_after
            if any(pit.tyres_changed):
                wear = 100.0
            if pit.swap_to:
                driver = pit.swap_to
            visit.exit_et = lap.end_et + 0.2 * plan.lap_time * SPLIT[0]
        elif pit is not None:
            car.pits[-1].exit_et = lap.end_et + 0.2 * plan.lap_time * SPLIT[0]
        et = lap.end_et
    car.reindex()
    return car


def _visit(number: int, lap_start: float, sectors: list[float], pit: PitPlan) -> PitVisit:
    """Pit times inside the in-lap's S3 (the box is just before the line)."""
    s2_end = lap_start + sectors[0] + sectors[1]
    entry = s2_end + 0.6 * sectors[2]
    visit = PitVisit(
        lap=number,
        request_et=lap_start + 5.0,
        entry_et=entry,
        penalty_served=pit.penalty_served,
        stuck_exiting=pit.stuck_exiting,
    )
    if pit.drive_through:
        return visit
    visit.stop_et = entry + 5.0
    visit.release_et = visit.stop_et + pit.stationary
    visit.fuel_after = pit.fuel_after
    visit.ve_after = pit.ve_after
    visit.compounds_after = pit.compounds_after
    visit.tyres_changed = pit.tyres_changed
    if pit.swap_to:
        visit.swap_et = visit.stop_et + 2.0
        visit.driver_in = pit.swap_to
    return visit


def simple_race(
    cars: int = 3,
    laps: int = 5,
    *,
    lap_time: float = 100.0,
    spread: float = 0.7,
    classes: Sequence[str] = ("GT3",),
    start_et: float = 63.0,
    plans: Mapping[int, CarPlan] | None = None,
    track: Track | None = None,
    max_time: float | None = None,
) -> SessionScript:
    """A standing-start race of `laps` laps; car `i` laps `spread * i` s slower than car 0.

    `classes` are dealt round-robin to the cars; `plans` overrides a car's `CarPlan` by slot.
    The checkered flag falls when the first car completes `laps` laps; every other car finishes
    at its next line crossing (lapped cars with fewer laps).
    """
    track = track or ring_track()
    plans = plans or {}
    scripts = []
    for slot in range(cars):
        plan = plans.get(slot) or CarPlan(
            lap_time=lap_time + spread * slot, car_class=classes[slot % len(classes)]
        )
        scripts.append(drive(slot, plan, start_et, laps, track=track))
    checkered = min(car.laps[-1].end_et for car in scripts)
    for car in scripts:
        keep = [lap for lap in car.laps if lap.start_et < checkered]
        car.laps = keep
        car.pits = [v for v in car.pits if v.start_et < keep[-1].end_et]
        car.reindex()
        car.finish_status = "FSTAT_FINISHED"
        car.finish_et = keep[-1].end_et
    return SessionScript(
        session="RACE1",
        track=track,
        cars=scripts,
        max_time=max_time or laps * lap_time,
        start_et=start_et,
        phases=[
            PhaseChange(0.0, PHASE_GRID),
            PhaseChange(start_et - 10.0, PHASE_COUNTDOWN),
            PhaseChange(start_et, PHASE_GREEN),
            PhaseChange(checkered, PHASE_CHECKERED),
        ],
    )


def simple_practice(
    cars: int = 3,
    runs: int = 2,
    laps_per_run: int = 3,
    *,
    lap_time: float = 100.0,
    spread: float = -0.4,
    start_et: float = 30.0,
    session: str = "PRACTICE1",
    max_time: float = 3600.0,
    track: Track | None = None,
) -> SessionScript:
    """A timed session: cars leave the garage for runs of contiguous laps (the first of each
    run an out-lap without a time) and sit in the garage in between. Car `i` is `spread * i`
    s faster than car 0 (so the order by best lap differs from slot order).
    """
    track = track or ring_track()
    scripts = []
    for slot in range(cars):
        pace = lap_time + spread * slot
        car = CarScript(entry=make_entry(slot), start_in_garage=True)
        et = start_et + 20.0 + 7.0 * slot
        number = 1
        for run in range(runs):
            out = et - 15.0
            part = drive(slot, CarPlan(lap_time=pace), et, laps_per_run, first_number=number)
            part.laps[0].lap_time = -1.0
            car.laps.extend(part.laps)
            car.pits.append(PitVisit(lap=number, garage_in_et=out - 120.0, garage_out_et=out))
            if run == 0:
                car.pits[-1].garage_in_et = 0.0
            number += laps_per_run
            et = part.laps[-1].end_et + 300.0
        car.pits.append(PitVisit(lap=number, garage_in_et=car.laps[-1].end_et + 5.0))
        car.first_driver = car.laps[0].driver
        car.reindex()
        scripts.append(car)
    return SessionScript(
        session=session,
        track=track,
        cars=scripts,
        max_time=max_time,
        start_et=start_et,
        phases=[PhaseChange(0.0, PHASE_GREEN), PhaseChange(start_et + max_time, PHASE_CHECKERED)],
    )


def weekend(*sessions: SessionScript, transition_seconds: float = 20.0) -> Weekend:
    return Weekend(sessions=list(sessions), transition_seconds=transition_seconds)
