"""A recorded session's cars -> `CarScript`s: laps, pit visits, penalties, start and finish.

`build_cars` reads each car's rows (Laps, Pits, CarStates, its entry and members) and the race
grid from the qualifying session before it, turns the rows into plain values and hands them to
`sim.replay_laps` (lap timeline) and `sim.replay_pits` (visits, penalties, compounds). Cars
without a timed lap fall back on their class's median lap and sector proportions.
"""

from __future__ import annotations

import sqlite3
import statistics

from sim import replay_pits
from sim.replay_entries import build_entry, steam_id
from sim.replay_laps import LapPlan, RecordedLap, build_laps, sector_proportions
from sim.replay_pits import RecordedPit, build_penalties, build_visits
from sim.script import CarScript, Entry, Member, Track


def build_cars(
    db: sqlite3.Connection, sid: str, track: Track, kind: str, session_start: float
) -> list[CarScript]:
    cars = db.execute("SELECT * FROM Cars WHERE SessionId = ? ORDER BY SlotId", (sid,)).fetchall()
    if not cars:
        return []
    offset = min(c["SlotId"] for c in cars)
    laps_by_car: dict[int, list[sqlite3.Row]] = {}
    for r in db.execute("SELECT * FROM Laps WHERE SessionId = ? ORDER BY CarId, LapNumber", (sid,)):
        laps_by_car.setdefault(r["CarId"], []).append(r)
    pits_by_car: dict[int, list[sqlite3.Row]] = {}
    for r in db.execute(
        "SELECT * FROM Pits WHERE SessionId = ? ORDER BY CarId, Lap, PitId", (sid,)
    ):
        pits_by_car.setdefault(r["CarId"], []).append(r)
    states = {
        r["CarId"]: r for r in db.execute("SELECT * FROM CarStates WHERE SessionId = ?", (sid,))
    }
    entries = {
        r["EntryId"]: r for r in db.execute("SELECT * FROM Entries WHERE SessionId = ?", (sid,))
    }
    members: dict[int, list[sqlite3.Row]] = {}
    for r in db.execute("SELECT * FROM Members WHERE SessionId = ? ORDER BY MemberId", (sid,)):
        members.setdefault(r["EntryId"], []).append(r)
    grid = _grid(db, sid) if kind.startswith("RACE") else {}
    # Session-wide fallbacks for cars without a timed lap, per class.
    recorded = {cid: [_recorded_lap(r) for r in rows] for cid, rows in laps_by_car.items()}
    class_of = {c["CarId"]: c["Class"] for c in cars}
    fallback_lap: dict[str, float] = {}
    fallback_props: dict[str, tuple[float, float, float]] = {}
    for cls in set(class_of.values()):
        rows = [lap for cid, laps in recorded.items() if class_of.get(cid) == cls for lap in laps]
        times = [r.total for r in rows if r.total > 0]
        if times:
            fallback_lap[cls] = statistics.median(times)
        props = sector_proportions(rows)
        if props:
            fallback_props[cls] = props
    out = []
    for c in cars:
        entry = build_entry(c, offset, entries.get(c["EntryId"]), members.get(c["EntryId"], []))
        lap_rows = recorded.get(c["CarId"], [])
        for r in lap_rows:
            if r.driver and r.driver not in {m.name for m in entry.members}:
                entry.members.append(Member(name=r.driver))
        entry.steam_ids = {m.name: steam_id(m.name) for m in entry.members}
        out.append(
            _car_script(
                entry,
                lap_rows,
                [_recorded_pit(r) for r in pits_by_car.get(c["CarId"], [])],
                states.get(c["CarId"]),
                track,
                fallback_lap.get(c["Class"]),
                fallback_props.get(c["Class"]),
                {
                    r["LapNumber"]: int(r["Penalty"])
                    for r in laps_by_car.get(c["CarId"], [])
                    if r["Penalty"] > 0
                },
                kind.startswith("RACE"),
                session_start,
            )
        )
        out[-1].grid_position = grid.get((c["Veh"], c["Number"]), -1)
    return out


def _grid(db: sqlite3.Connection, sid: str) -> dict[tuple[str, str], int]:
    """Race grid from the qualifying session that led to it (final positions)."""
    prev = db.execute(
        "SELECT s.SessionId, s.SessionType FROM SessionTransitions t "
        "JOIN Sessions s ON s.SessionId = t.FromSessionId WHERE t.ToSessionId = ?",
        (sid,),
    ).fetchone()
    if prev is None or not (prev[1] or "").startswith("QUALIFY"):
        return {}
    rows = db.execute(
        "SELECT c.Veh, c.Number, cs.Position FROM Cars c JOIN CarStates cs "
        "ON cs.CarId = c.CarId WHERE c.SessionId = ?",
        (prev[0],),
    ).fetchall()
    return {(r[0], r[1]): int(r[2]) for r in rows if r[2] and r[2] > 0}


def _val(x: float | None) -> float | None:
    """-1 (or NULL) -> None."""
    return None if x is None or x < 0 else float(x)


def _recorded_lap(r: sqlite3.Row) -> RecordedLap:
    compounds = (r["LFCompound"], r["RFCompound"], r["LRCompound"], r["RRCompound"])
    return RecordedLap(
        number=int(r["LapNumber"]),
        start=float(r["StartTime"]),
        total=float(r["TotalTime"]),
        sectors=(float(r["Sector1"]), float(r["Sector2"]), float(r["Sector3"])),
        driver=r["Driver"] or "",
        position=int(r["Position"]),
        fuel=max(0.0, float(r["Fuel"])),
        ve=float(r["VirtualEnergy"]),
        compounds=compounds if all(c is not None for c in compounds) else None,  # type: ignore[arg-type]
    )


def _recorded_pit(r: sqlite3.Row) -> RecordedPit:
    return RecordedPit(
        lap=int(r["Lap"]),
        entry=_val(r["PitTime"]),
        stop=_val(r["StopTime"]),
        release=_val(r["ReleaseTime"]),
        exit=_val(r["ExitTime"]),
        garage_in=_val(r["GarageInTime"]),
        garage_out=_val(r["GarageOutTime"]),
        swap=bool(r["Swap"]),
        swap_time=_val(r["SwapTime"]),
        penalty=bool(r["Penalty"]),
        service_time=_val(r["Time"]),
        fuel=_val(r["Fuel"]),
        ve=_val(r["VirtualEnergy"]),
        changed=(
            bool(r["LFChanged"]),
            bool(r["RFChanged"]),
            bool(r["LRChanged"]),
            bool(r["RRChanged"]),
        ),
        compounds=(r["LFCompound"], r["RFCompound"], r["LRCompound"], r["RRCompound"]),
    )


def _car_script(
    entry: Entry,
    lap_rows: list[RecordedLap],
    pit_rows: list[RecordedPit],
    state: sqlite3.Row | None,
    track: Track,
    typical: float | None,
    props: tuple[float, float, float] | None,
    lap_penalties: dict[int, int],
    is_race: bool,
    session_start: float,
) -> CarScript:
    has_ve = any(r.ve >= 0 for r in lap_rows)
    entry.has_virtual_energy = has_ve
    final_start = None
    if state is not None and lap_rows and state["LapsCompleted"] == max(r.number for r in lap_rows):
        final_start = _val(state["LapStartET"]) or None
    plan = LapPlan(
        garages=[(p.garage_in, p.garage_out) for p in pit_rows],
        final_lap_start=final_start,
        typical_lap=typical,
        proportions=props,
    )
    start_compounds = next(
        (
            tuple(c if c in ("Soft", "Medium", "Hard", "Wet") else "Medium" for c in p.compounds)
            for p in pit_rows
            if p.lap <= 1 and any(p.compounds)
        ),
        ("Medium",) * 4,
    )
    numbers = (
        list(range(min(r.number for r in lap_rows), max(r.number for r in lap_rows) + 1))
        if lap_rows
        else []
    )
    laps, _ = build_laps(lap_rows, plan, [start_compounds] * len(numbers))  # type: ignore[list-item]
    if has_ve:
        _fill_ve(laps)
    pit_state = state["PitState"] if state is not None else None
    visits = build_visits(pit_rows, laps, track.pit_exit, has_ve, stuck_last=pit_state == "EXITING")
    recorded_compounds = {r.number for r in lap_rows if r.compounds is not None}
    per_lap = replay_pits.default_compounds(start_compounds, numbers, visits)  # type: ignore[arg-type]
    for lap, tyres in zip(laps, per_lap, strict=True):
        if lap.number not in recorded_compounds:
            lap.compounds = tyres
    flagged = {i for i, v in enumerate(visits) if v.penalty_served}
    total = int(state["TotalPenalties"]) if state is not None else sum(lap_penalties.values())
    pending = int(state["Penalties"]) if state is not None else 0
    penalties = build_penalties(laps, lap_penalties, total, pending, visits, flagged)
    car = CarScript(
        entry=entry,
        laps=laps,
        pits=visits,
        penalties=penalties,
        first_driver=laps[0].driver if laps else (entry.members[0].name if entry.members else ""),
        start_compounds=start_compounds,  # type: ignore[arg-type]
        finish_status=(state["FinishStatus"] if state is not None else None) or "FSTAT_NONE",
        count_lap_flag=(state["CountLapFlag"] if state is not None else None)
        or "COUNT_LAP_AND_TIME",
    )
    car.start_fuel, car.start_ve = _start_energy(laps, has_ve)
    first_start = laps[0].start_et if laps else float("inf")
    # Race cars wait on the grid (garage stays before the start are visits of their own);
    # in practice and qualifying a car sits in its garage until its first run.
    car.start_in_garage = not is_race and (
        any(v.garage_in_et is not None and v.garage_in_et <= first_start for v in visits)
        or first_start > session_start + 30.0
    )
    car.reindex()
    return car


def _fill_ve(laps: list) -> None:
    """Laps without a recorded VE: the previous lap's value (else the next one's)."""
    known = [lap.ve_end for lap in laps]
    last = next((v for v in known if v is not None), None)
    for lap in laps:
        if lap.ve_end is None:
            lap.ve_end = last
        last = lap.ve_end


def _start_energy(laps: list, has_ve: bool) -> tuple[float, float | None]:
    """Fuel/VE at the start: the first lap's end value plus one lap's use."""
    if not laps:
        return 1.0, (1.0 if has_ve else None)
    fuel = laps[0].fuel_end
    use = laps[0].fuel_end - laps[1].fuel_end if len(laps) > 1 else 0.0
    start_fuel = min(1.0, fuel + max(use, 0.0))
    if not has_ve:
        return start_fuel, None
    ves = [lap.ve_end for lap in laps[:2]]
    if ves[0] is None:
        return start_fuel, 1.0
    ve_use = ves[0] - ves[1] if len(ves) > 1 and ves[1] is not None else 0.0
    return start_fuel, min(1.0, ves[0] + max(ve_use, 0.0))
