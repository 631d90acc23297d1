"""Replay of recorded sessions: a recorded-sessions SQLite DB -> race scripts.

The DB is the one an older tracker wrote (tables Sessions, Cars, Laps, Pits, CarStates, Chats,
...). Each session becomes a `SessionScript` whose *reported* values (lap and sector times,
drivers, positions, fuel, pit times) are the recorded ones, so a real race plays back through
the simulated game API; the *true* values the engine needs to move cars are derived where the
recording has gaps.

This module opens the DB, checks its shape and walks a weekend's sessions; the rest is split by
what it builds:
- `sim.replay_session`: one session (phases, conditions, flags, chat) and the decisions the
  recording leaves open;
- `sim.replay_cars`: each car's script from its laps, pit rows and final state;
- `sim.replay_entries`: the entry list (classes, numbers, members, ids);
- `sim.replay_laps` and `sim.replay_pits`: a car's lap timeline, pit visits and penalties.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sim.replay_session import build_session
from sim.script import SessionScript, Weekend

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
        return build_session(db, session_id, track_maps)


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
        return Weekend([build_session(db, sid, track_maps) for sid in chain])


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
