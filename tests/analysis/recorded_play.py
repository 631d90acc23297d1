"""Recorded races of the reference DB played into a Tracker, the way the client sees them.

The simulator replays the recording (`sim.replay.load_session`), the game's answers at each
moment are rendered (`sim.render.game_answers`) and turned into the client's state by the
client's own `Slimmer`; the tracker observes that state. The slowly polled endpoints (strategy,
usage, teams) are rendered every `SLOW_EVERY` s of ET like the client's major interval, and
reused in between. No sockets: a 50-minute race takes a few seconds.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client.normalize import SESSION_INFO, STANDINGS, STRATEGY, TEAMS, USAGE, WS_STANDINGS
from client.slim import Slimmer
from server.tracking import Event, Tracker
from sim.render import game_answers
from sim.replay import load_session
from sim.script import SessionScript

FAST = (SESSION_INFO, STANDINGS)
SLOW = (STRATEGY, USAGE, TEAMS)
SLOW_EVERY = 10.0


@dataclass
class PlayedRace:
    session_id: str  # the recording's id
    script: SessionScript
    tracker: Tracker
    events: list[Event]
    states: int


def recorded_race_ids(db: Path) -> dict[str, str]:
    """Track name -> recorded race session id."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        rows = con.execute(
            "SELECT TrackName, SessionId FROM Sessions WHERE SessionType LIKE 'RACE%'"
        ).fetchall()
    return {track: sid for track, sid in rows}


def play_recorded(db: Path, session_id: str, step: float) -> PlayedRace:
    """The recorded session observed every `step` s of ET from 0 to its end."""
    return play_script(load_session(db, session_id), step, session_id)


def play_script(script: SessionScript, step: float, session_id: str = "") -> PlayedRace:
    """A session script observed every `step` s of ET from 0 to its end."""
    tracker = Tracker(script.session, script.track.length)
    slimmer = Slimmer()
    slow: dict[str, Any] = {}
    slow_et = -math.inf
    events: list[Event] = []
    count = math.ceil(script.final_et() / step - 1e-9)
    for i in range(count + 1):
        et = i * step
        paths: tuple[str, ...] = FAST
        if et - slow_et >= SLOW_EVERY:
            paths = FAST + SLOW
        answers = game_answers(script, et, paths=paths)
        if et - slow_et >= SLOW_EVERY:
            slow = {path: answers[path] for path in SLOW}
            slow_et = et
        else:
            answers.update(slow)
        answers = {k: v for k, v in answers.items() if k in FAST + SLOW or k == WS_STANDINGS}
        state = slimmer(answers)
        events.extend(tracker.observe(state, et))
    return PlayedRace(session_id, script, tracker, events, count + 1)


def recorded_order(db: Path, session_id: str, script: SessionScript) -> list[str]:
    """The recorded final classification as car keys `"<API slot>-<vehicle file>"`: laps
    (`CarStates.LapsCompleted`), then the ET the last lap ended (a last lap without a recorded
    time ends where the replay puts it), then the grid."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        cars = con.execute(
            "SELECT c.CarId, c.SlotId, c.Veh, s.LapsCompleted FROM Cars c "
            "JOIN CarStates s ON s.CarId = c.CarId WHERE c.SessionId = ?",
            (session_id,),
        ).fetchall()
        base = min(row[1] for row in cars)
        truth: dict[str, tuple[int, float | None]] = {}
        for car_id, slot, veh, done in cars:
            last = con.execute(
                "SELECT StartTime + TotalTime FROM Laps WHERE CarId = ? AND LapNumber = ? "
                "AND TotalTime > 0 AND StartTime > 0",
                (car_id, done),
            ).fetchone()
            truth[f"{slot - base}-{veh}"] = (done, last[0] if last is not None else None)
    grid: dict[str, int] = {}
    finish: dict[str, float] = {}
    for car in script.cars:
        key = f"{car.entry.slot_id}-{car.entry.vehicle_file}"
        grid[key] = car.grid_position if car.grid_position > 0 else 10_000
        done, end = truth[key]
        if end is None:
            end = car.laps[-1].end_et if car.laps else math.inf
        finish[key] = end
    return sorted(truth, key=lambda k: (-truth[k][0], finish[k], grid.get(k, 10_000), k))
