"""One recorded session -> a `SessionScript`: its clocks, phases, conditions, flags and chat.

The cars come from `sim.replay_cars`; this module adds what belongs to the session as a whole.

Decisions the recording leaves open:
- Green falls at `StartEventTime` in practice and qualifying, and when the first car starts
  lap 1 in a race (formation from `StartEventTime`); the checkered flag falls `MaxTime` after
  green — that is what the recorded laps show (cars still start timed laps until then).
- Conditions: `SessionStates` holds only the final values; they are used as a constant timeline.
- Chat: lines carry wall-clock times only. Lines already seen in the previous session of the
  weekend (the game keeps the chat across sessions) show from ET 0. The session's own lines keep
  their spacing and are shifted by one offset so they sit centred in [0, final ET] (in the
  recordings they span nearly the whole session and sessions ran back to back).
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from sim.replay_cars import build_cars
from sim.script import (
    PHASE_CHECKERED,
    PHASE_FORMATION,
    PHASE_GREEN,
    PHASE_STARTING,
    CarScript,
    ChatLine,
    Conditions,
    PhaseChange,
    SectorFlags,
    SessionScript,
    Track,
)

log = logging.getLogger("sim.replay")  # the replay's log, whichever of its modules writes

SESSION_END_SLACK = 30.0  # s after the last lap when the recording gives nothing better
FLAGS = ("UNKNOWN", "YELLOW", "RED", "CHECKERED")


def build_session(db: sqlite3.Connection, sid: str, track_maps: Path | None) -> SessionScript:
    s = db.execute("SELECT * FROM Sessions WHERE SessionId = ?", (sid,)).fetchone()
    state = db.execute("SELECT * FROM SessionStates WHERE SessionId = ?", (sid,)).fetchone()
    name = s["TrackName"] or "Unknown Track"
    track = _track(name, float(s["LapDistance"]), track_maps)
    kind = s["SessionType"] or "PRACTICE1"
    cars = build_cars(db, sid, track, kind, float(s["StartEventTime"]))
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
