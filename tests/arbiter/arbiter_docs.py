"""Builders of client state documents for the arbiter tests.

Hand-made documents (`state`) have the normalized shape of `client/normalize.py` with only what
the arbiter reads; `sim_state` renders the simulator's REST answers for one viewpoint and
normalizes them, so three team members' views of one race differ exactly as the game's do.
"""

from __future__ import annotations

from typing import Any

from client.normalize import (
    GAME_STATE,
    NAVIGATION,
    SESSION_INFO,
    STANDINGS,
    STRATEGY,
    TEAMS,
    USAGE,
    normalize,
)
from server.arbiter import Arbiter, ArbiterConfig, Decision
from sim.engine import evaluate
from sim.render import REST
from sim.render_base import EMPTY, Scene
from sim.script import SessionScript, Weekend
from sim.viewpoint import Viewpoint, ViewState

SERVER = "Endurance Club #1"
PORT = 54297
TRACK = "Algarve International Circuit"
GREEN = 5
CHECKERED = 8


def car(slot: int, *, player: bool = False, **over: Any) -> dict[str, Any]:
    row = {
        "slotID": slot,
        "vehicleFilename": f"VEH_{slot:02d}",
        "fullTeamName": f"Team {slot}",
        "driverName": f"Driver {slot}",
        "player": player,
        "finishStatus": "FSTAT_NONE",
        "lapsCompleted": 10,
        "fuelFraction": 0.5,
    }
    row.update(over)
    return row


def cars(slots: range | list[int], player: int | None = None) -> dict[str, dict]:
    return {f"{s}-VEH_{s:02d}": car(s, player=s == player) for s in slots}


def state(
    et: float,
    *,
    player: int | None = 0,
    slots: range | list[int] = range(10),
    session: str = "RACE1",
    phase: int = GREEN,
    server: str = SERVER,
    port: int = PORT,
    track: str = TRACK,
    online: bool = True,
    max_time: float = 21600.0,
    car_rows: dict[str, dict] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A client's normalized state in a session at `et`."""
    info = {
        "trackName": track,
        "session": session,
        "serverName": server if online else "-none-",
        "serverPort": port if online else 0,
        "currentEventTime": et,
        "gamePhase": phase,
        "maxTime": max_time,
        "endEventTime": max_time,
        "timeRemainingInGamePhase": max(0.0, max_time - et) if phase < CHECKERED else 0.0,
        "startEventTime": 30.0,
        "numberOfVehicles": len(slots),
    }
    doc: dict[str, Any] = {
        "game": {
            "running": True,
            "screen": "SETTING_MONITOR",
            "replay": False,
            "online": online,
            "in_session": True,
        },
        "session": info,
        "cars": car_rows if car_rows is not None else cars(slots, player),
    }
    if online:
        doc["teams"] = {"teams": {f"utid{s}": {"name": f"Team {s}"} for s in slots}}
    doc.update(extra)
    return doc


def menu() -> dict[str, Any]:
    return {"game": {"running": True, "screen": "SETTING_MAIN_MENU", "replay": False}}


def replay() -> dict[str, Any]:
    return {"game": {"running": True, "screen": "SETTING_REPLAY_PLAYBACK", "replay": True}}


def closed() -> dict[str, Any]:
    return {"game": {"running": False}}


def fast_config(**over: Any) -> ArbiterConfig:
    """Defaults, except that a new session is confirmed by the next reading 1 s later."""
    return ArbiterConfig(**{"confirm_after": 1.0, **over})


def settle(arb: Arbiter, client: str, doc_at, et: float, now: float) -> Decision:
    """Observe a client twice, 1 s apart (the confirmation a new session needs)."""
    arb.observe(client, doc_at(et), et, now)
    return arb.observe(client, doc_at(et + 1.0), et + 1.0, now + 1.0)


# --- simulator-built states ------------------------------------------------------------------

PATHS = (SESSION_INFO, STANDINGS, GAME_STATE, TEAMS, STRATEGY, USAGE, NAVIGATION)


def sim_state(
    script: SessionScript,
    et: float,
    player_slot: int,
    index: int = 0,
    view_state: ViewState = ViewState.SESSION,
) -> dict:
    """The normalized state one team member's game shows at `et` (its own car: player_slot)."""
    live = evaluate(script, et)
    view = Viewpoint(index=index, player_slot=player_slot, state=view_state)
    scene = Scene(
        mode=view.mode(live, loading=False),
        view=view,
        live=live,
        script=script,
        weekend=Weekend([script]),
    )
    raw = {path: REST[path].render(scene) for path in PATHS}
    return normalize({path: None if body is EMPTY else body for path, body in raw.items()})
