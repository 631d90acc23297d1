"""What every renderer needs: the scene one viewpoint sees, and the game's small conventions.

Renderers are pure: a `Scene` in, JSON-able Python values out (dicts, lists, str, int, float,
bool, None) or `EMPTY` when the game answers 200 with an empty body. Numbers the game sends as
doubles are always Python floats so that they serialize as JSON numbers with a fraction part
only when they have one - `orjson` writes `20.0`, which is what a C++ double prints as too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sim.script import (
    PHASE_CHECKERED,
    PHASE_COUNTDOWN,
    PHASE_FORMATION,
    PHASE_GREEN,
    PHASE_PAUSED,
    SessionScript,
    Weekend,
)
from sim.snapshot import CarLive, SessionLive
from sim.viewpoint import ViewMode, Viewpoint


class _Empty:
    """The game's empty body (Content-Length 0): not JSON at all."""

    _instance: _Empty | None = None

    def __new__(cls) -> _Empty:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "EMPTY"

    def __bool__(self) -> bool:
        return False


EMPTY = _Empty()


@dataclass(frozen=True)
class Scene:
    """The race as one viewpoint sees it at one ET."""

    mode: ViewMode
    view: Viewpoint
    live: SessionLive | None  # None outside a session (menu, loading)
    script: SessionScript | None = None  # the session played or being loaded
    weekend: Weekend | None = None

    @property
    def in_session(self) -> bool:
        return self.mode.in_session and self.live is not None

    @property
    def player_car(self) -> CarLive | None:
        return self.live.car(self.view.player_slot) if self.live is not None else None

    def player_team(self, car: CarLive) -> bool:
        """True for the viewpoint's own car: private data is visible only for it."""
        return car.slot_id == self.view.player_slot

    @property
    def online(self) -> bool:
        script = self.script or (self.live.script if self.live else None)
        return bool(script and script.online)


def f(value: float | int, default: float = 0.0) -> float:
    """A double as the game sends it; never NaN or infinity (JSON has neither, orjson would
    write `null`), so a non-finite input becomes `default`."""
    value = float(value)
    return value if math.isfinite(value) else default


def ws_phase(phase: int) -> str:
    """WS SessionInfo gamePhase string for a GamePhase int."""
    if phase in (PHASE_FORMATION, PHASE_COUNTDOWN):
        return "FORMATION"
    if phase == PHASE_CHECKERED:
        return "CHECKERED"
    if phase >= PHASE_GREEN and phase != PHASE_PAUSED:
        return "GREEN"
    return "BEFORE"


def game_state_phase(phase: int) -> str:
    """GetGameState gamePhase (GPHASE_*): paused reads BEFORE, like the game in a replay."""
    return "GPHASE_" + ws_phase(phase)


def car_phase(phase: int) -> str:
    """Standing gamePhase: FORMATION until the green flag, then GREEN."""
    return "GREEN" if phase >= PHASE_GREEN else "FORMATION"


def velocity(x: float, y: float, z: float, speed: float | None = None) -> dict:
    if speed is None:
        speed = (x * x + y * y + z * z) ** 0.5
    return {"velocity": f(speed), "x": f(x), "y": f(y), "z": f(z)}


def steam_id(car: CarLive) -> int:
    return int(car.script.entry.steam_ids.get(car.driver, 0))
