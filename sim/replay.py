"""Replay of recorded sessions: a recorded-sessions SQLite DB -> race scripts.

The DB is the one an older tracker wrote (tables Sessions, Cars, Laps, Pits, CarStates, Chats,
...). Each session becomes a `SessionScript` whose *reported* values (lap and sector times,
drivers, positions, fuel, pit times) are the recorded ones, so a real race plays back through
the simulated game API; the *true* values the engine needs to move cars are derived where the
recording has gaps (see `sim.replay_laps` and `sim.replay_pits`).

Decisions the recording leaves open:
- Green falls at `StartEventTime` in practice and qualifying, and when the first car starts
  lap 1 in a race (formation from `StartEventTime`); the checkered flag falls `MaxTime` after
  green — that is what the recorded laps show (cars still start timed laps until then).
- Conditions: `SessionStates` holds only the final values; they are used as a constant timeline.
- Chat: lines carry wall-clock times only. Lines already seen in the previous session of the
  weekend (the game keeps the chat across sessions) show from ET 0. The session's own lines keep
  their spacing and are shifted by one offset so they sit centred in [0, final ET] (in the
  recordings they span nearly the whole session and sessions ran back to back).
- Hosted sessions (smallest SlotId > 0): standings slots count from 0, team-list keys keep the
  recorded slot (`Entry.team_slot`).
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import statistics
from pathlib import Path

from sim import replay_pits
from sim.replay_laps import LapPlan, RecordedLap, build_laps, sector_proportions
from sim.replay_pits import RecordedPit, build_penalties, build_visits
from sim.script import (
    CAR_CLASSES,
    PHASE_CHECKERED,
    PHASE_FORMATION,
    PHASE_GREEN,
    PHASE_STARTING,
    CarScript,
    ChatLine,
    Conditions,
    Entry,
    Member,
    PhaseChange,
    SectorFlags,
    SessionScript,
    Track,
    Weekend,
)

log = logging.getLogger(__name__)

REQUIRED_TABLES = (
    "Sessions",
    "SessionStates",
    "SessionTransitions",
    "Cars",
    "Entries",
    "Members",
    "Laps",
    "Pits",
    "CarStates",
    "Chats",
)
SESSION_END_SLACK = 30.0  # s after the last lap when the recording gives nothing better
STEAM_BASE = 76561197960265728  # first individual Steam64 id
FLAGS = ("UNKNOWN", "YELLOW", "RED", "CHECKERED")


class ReplayError(ValueError):
    """The DB cannot be replayed: missing, of another shape, or no such session."""


# --- public API ----------------------------------------------------------------------------


def list_sessions(db_path: str | Path) -> list[dict]:
    """One dict per session (id, type, track, length, cars, laps), oldest first."""
    with _connect(db_path) as db:
        rows = db.execute(
            """SELECT s.SessionId, s.SessionType, s.TrackName, s.MaxTime,
                      (SELECT COUNT(*) FROM Cars c WHERE c.SessionId = s.SessionId),
                      (SELECT COUNT(*) FROM Laps l WHERE l.SessionId = s.SessionId)
               FROM Sessions s ORDER BY s.Timestamp, s.SessionId"""
        ).fetchall()
    return [
        {"id": r[0], "type": r[1], "track": r[2], "length": r[3], "cars": r[4], "laps": r[5]}
        for r in rows
    ]


def load_session(
    db_path: str | Path, session_id: str, *, track_maps: Path | None = None
) -> SessionScript:
    """The recorded session as a race script."""
    with _connect(db_path) as db:
        _check_session(db, session_id)
        return _session_script(db, session_id, track_maps)


def load_weekend(
    db_path: str | Path, session_id: str, *, track_maps: Path | None = None
) -> Weekend:
    """The session and those that follow it in its event (SessionTransitions From -> To)."""
    with _connect(db_path) as db:
        _check_session(db, session_id)
        chain = [session_id]
        while len(chain) < 16:
            nxt = db.execute(
                "SELECT ToSessionId FROM SessionTransitions WHERE FromSessionId = ? "
                "ORDER BY SessionTransitionId",
                (chain[-1],),
            ).fetchone()
            if nxt is None or nxt[0] in chain:
                break
            chain.append(nxt[0])
        return Weekend([_session_script(db, sid, track_maps) for sid in chain])


# --- DB access -----------------------------------------------------------------------------


def _connect(db_path: str | Path) -> sqlite3.Connection:
    path = Path(db_path)
    if not path.is_file():
        raise ReplayError(f"recorded-sessions DB not found: {path}")
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise ReplayError(f"{path} is not a recorded-sessions SQLite DB: {exc}") from exc
    missing = [t for t in REQUIRED_TABLES if t not in names]
    if missing:
        db.close()
        raise ReplayError(f"{path} is not a recorded-sessions DB (missing {', '.join(missing)})")
    db.row_factory = sqlite3.Row
    return db


def _check_session(db: sqlite3.Connection, session_id: str) -> None:
    ids = [r[0] for r in db.execute("SELECT SessionId FROM Sessions ORDER BY Timestamp")]
    if session_id not in ids:
        raise ReplayError(f"unknown session {session_id!r}; valid ids: {', '.join(ids)}")


def _val(x: float | None) -> float | None:
    """-1 (or NULL) -> None."""
    return None if x is None or x < 0 else float(x)


# --- assembly ------------------------------------------------------------------------------


def _session_script(db: sqlite3.Connection, sid: str, track_maps: Path | None) -> SessionScript:
    s = db.execute("SELECT * FROM Sessions WHERE SessionId = ?", (sid,)).fetchone()
    state = db.execute("SELECT * FROM SessionStates WHERE SessionId = ?", (sid,)).fetchone()
    name = s["TrackName"] or "Unknown Track"
    track = _track(name, float(s["LapDistance"]), track_maps)
    kind = s["SessionType"] or "PRACTICE1"
    cars = _cars(db, sid, track, kind, float(s["StartEventTime"]))
    script = SessionScript(
        session=kind,
        track=track,
        cars=cars,
        max_time=float(s["MaxTime"]),
        start_et=float(s["StartEventTime"]),
        end_et=float(s["EndEventTime"]),
        maximum_laps=int(s["MaximumLaps"]),
        online=bool(s["IsOnline"]),
        server_name=s["ServerName"] or "",
        server_port=int(s["ServerPort"]),
        max_players=int(s["MaxPlayers"]),
        password_protected=bool(s["PasswordProtected"]),
    )
    if state is not None and state["NumRedLights"] is not None:
        script.num_red_lights = int(state["NumRedLights"])
    script.phases = _phases(script)
    checkered = script.checkered_et() or script.max_time
    for car in cars:
        _finish(car, checkered)
    ends = [car.laps[-1].end_et for car in cars if car.laps]
    last_lap = max([checkered, *ends])
    recorded_end = float(state["CurrentEventTime"]) if state is not None else -1.0
    if last_lap <= recorded_end <= last_lap + 120.0:
        script.last_et = recorded_end
    else:
        script.last_et = last_lap + SESSION_END_SLACK
    script.conditions = [_conditions(state)]
    script.sector_flags = _sector_flags(state, max(ends, default=checkered))
    script.weather_nodes = [_weather_node(script.conditions[0])]
    script.chat = _chat(db, sid, script.last_et)
    log.info(
        "replay %s: %s at %s, %d cars, %d laps, %d pit visits, %d chat lines",
        sid,
        kind,
        name,
        len(cars),
        sum(len(c.laps) for c in cars),
        sum(len(c.pits) for c in cars),
        len(script.chat),
    )
    return script


def _track(name: str, length: float, track_maps: Path | None) -> Track:
    from sim import tracks  # written alongside; imported late so the rest loads without it

    if track_maps is not None:
        path = Path(track_maps) / f"{name}.json"
        if path.is_file():
            return tracks.track_from_map(name, length, tracks.load_track_map(path))
        log.info("no track map %s; drawing %s procedurally", path, name)
    return tracks.procedural_track(name, length)


def _phases(script: SessionScript) -> list[PhaseChange]:
    start = script.start_et
    if script.is_race:
        firsts = [c.laps[0].start_et for c in script.cars if c.laps and c.laps[0].number == 1]
        green = min(firsts) if firsts else start
        green = max(green, start)
        formation = start if green > start else max(0.0, start - 30.0)
        changes = [PhaseChange(0.0, PHASE_STARTING), PhaseChange(formation, PHASE_FORMATION)]
    else:
        green = start
        changes = [PhaseChange(0.0, PHASE_STARTING)]
    changes.append(PhaseChange(green, PHASE_GREEN))
    changes.append(PhaseChange(green + script.max_time, PHASE_CHECKERED))
    return [c for i, c in enumerate(changes) if i == 0 or c.et > changes[i - 1].et or c.et > 0]


def _finish(car: CarScript, checkered: float) -> None:
    """finish_et: end of the last lap (not before the flag for finishers)."""
    status = car.finish_status
    if status == "FSTAT_NONE":
        car.finish_et = None
        return
    end = car.laps[-1].end_et if car.laps else checkered
    if status in ("FSTAT_FINISHED", "FSTAT_CHECKERED"):
        end = max(end, checkered) if not car.laps else end
        if car.laps and end < checkered:
            end = checkered  # left the track before the flag: classified at the flag
    car.finish_et = end


def _conditions(state: sqlite3.Row | None) -> Conditions:
    if state is None:
        return Conditions(0.0, 22.0, 28.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    wx, wz = float(state["WindX"] or 0.0), float(state["WindZ"] or 0.0)
    norm = (wx * wx + wz * wz) ** 0.5
    return Conditions(
        et=0.0,
        ambient_temp=float(state["AmbientTemp"]),
        track_temp=float(state["TrackTemp"] if state["TrackTemp"] is not None else 28.0),
        raining=float(state["Raining"] or 0.0),
        dark_cloud=float(state["DarkCloud"]),
        wetness_avg=float(state["AveragePathWetness"]),
        wetness_min=float(state["MinPathWetness"]),
        wetness_max=float(state["MaxPathWetness"]),
        wind_speed=float(state["WindVelocity"] or 0.0),
        wind_dir=(wx / norm, wz / norm) if norm > 0 else (0.0, 1.0),
    )


def _weather_node(cond: Conditions) -> dict:
    """GetGameState's closeestWeatherNode, shaped after the real sample, from the conditions."""
    return {
        "Duration": 0,
        "Humidity": 60,
        "RainChance": round(cond.raining * 100),
        "Sky": 4 if cond.raining > 0 else (2 if cond.dark_cloud > 0.5 else 1),
        "StartTime": 0,
        "Temperature": round(cond.ambient_temp),
        "WindDirection": 0,
        "WindSpeed": round(cond.wind_speed),
    }


def _sector_flags(state: sqlite3.Row | None, all_done: float) -> list[SectorFlags]:
    """UNKNOWN while running, the recorded final flags once every car is done."""
    flags = [SectorFlags(0.0, ("UNKNOWN", "UNKNOWN", "UNKNOWN"))]
    if state is not None:
        final = tuple(
            f if f in FLAGS else "UNKNOWN"
            for f in (state["Sector1Flag"], state["Sector2Flag"], state["Sector3Flag"])
        )
        if final != flags[0].flags:
            flags.append(SectorFlags(all_done, final))  # type: ignore[arg-type]
    return flags


def _chat(db: sqlite3.Connection, sid: str, final_et: float) -> list[ChatLine]:
    rows = db.execute(
        "SELECT Timestamp, Nanoseconds, Message FROM Chats WHERE SessionId = ? "
        "ORDER BY Timestamp, Nanoseconds, ChatId",
        (sid,),
    ).fetchall()
    prev = db.execute(
        "SELECT FromSessionId FROM SessionTransitions WHERE ToSessionId = ?", (sid,)
    ).fetchone()
    seen: set[tuple] = set()
    if prev is not None:
        seen = {
            tuple(r)
            for r in db.execute(
                "SELECT Timestamp, Nanoseconds, Message FROM Chats WHERE SessionId = ?", (prev[0],)
            )
        }
    ticks = [int(r[0]) * 10_000_000 + int(r[1]) // 100 for r in rows]
    own = [t for t, r in zip(ticks, rows, strict=True) if tuple(r) not in seen]
    if own:
        span = (own[-1] - own[0]) / 1e7
        first_et = max(0.0, (final_et - span) / 2)
        origin = own[0] - round(first_et * 1e7)  # ticks at ET 0
    else:
        origin = (ticks[-1] + 1) if ticks else 0
    lines = []
    for t, r in zip(ticks, rows, strict=True):
        et = min(max((t - origin) / 1e7, 0.0), final_et)
        lines.append(ChatLine(et=et, message=r[2] or "", timestamp=t))
    return lines


# --- cars ----------------------------------------------------------------------------------


def _cars(
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
        entry = _entry(c, offset, entries.get(c["EntryId"]), members.get(c["EntryId"], []))
        lap_rows = recorded.get(c["CarId"], [])
        for r in lap_rows:
            if r.driver and r.driver not in {m.name for m in entry.members}:
                entry.members.append(Member(name=r.driver))
        entry.steam_ids = {m.name: _steam_id(m.name) for m in entry.members}
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


def _entry(
    car: sqlite3.Row, offset: int, team: sqlite3.Row | None, rows: list[sqlite3.Row]
) -> Entry:
    slot = int(car["SlotId"])
    cls = car["Class"] if car["Class"] in CAR_CLASSES else "GT3"
    number = car["Number"] if car["Number"] is not None else (team["Number"] if team else "0")
    members = []
    for m in rows:
        roles = tuple(
            role
            for flag, role in (
                ("IsDriver", "Driver"),
                ("IsEngineer", "Race Engineer"),
                ("IsAdmin", "Admin"),
            )
            if m[flag]
        )
        if m["Name"]:
            members.append(
                Member(
                    name=m["Name"],
                    badge=m["Badge"] or "none",
                    nationality=m["Nationality"] or "",
                    roles=roles or ("Driver",),
                )
            )
    car_id = (
        car["Id"] if _is_hex40(car["Id"]) else _hash40(car["Veh"], number, car["TeamName"] or "")
    )
    return Entry(
        slot_id=slot - offset if offset > 0 else slot,
        vehicle_file=car["Veh"],
        vehicle_name=car["VehicleName"] or car["Veh"],
        team_name=car["TeamName"] or (team["Name"] if team else car["Veh"]),
        car_class=cls,
        car_number=str(number),
        car_id=car_id,
        team_id=str(team["Id"]) if team is not None else "",
        team_slot=slot if offset > 0 else None,
        members=members,
    )


def _is_hex40(value: str | None) -> bool:
    return bool(value) and len(value) == 40 and all(ch in "0123456789abcdefABCDEF" for ch in value)  # type: ignore[arg-type]


def _hash40(*parts: str) -> str:
    return hashlib.sha1("|".join(parts).encode()).hexdigest()


def _steam_id(name: str) -> int:
    return STEAM_BASE + int(hashlib.sha1(name.encode()).hexdigest()[:8], 16)


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
