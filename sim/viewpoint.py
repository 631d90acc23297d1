"""Viewpoints: the simulated games that share one race.

Several team members watch the same race from their own copy of the game. Each copy has its own
REST and websocket ports, its own player car and player name, and its own state (in the session,
back at the main menu, closed, or watching a replay). What one copy reports privately (the player
flag, its own fuel, its team's strategy details) differs; shared facts are identical.

`ViewMode` is what a viewpoint is doing *right now*: it combines the viewpoint's state with the
weekend clock (loading between sessions) and the race (driving only while the player's name is
the car's current driver).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sim.script import SessionScript
from sim.snapshot import SessionLive


class ViewState(StrEnum):
    """What the player did with the game (set through the control API)."""

    SESSION = "session"  # in the session (driving or monitoring)
    MENU = "menu"  # left to the main menu, game still running
    CLOSED = "closed"  # game not running: both ports refuse connections
    REPLAY = "replay"  # replay playback of the session


class ViewMode(StrEnum):
    """What the game is showing at this moment; drives the rendering of every endpoint."""

    DRIVING = "driving"
    MONITOR = "monitor"
    REPLAY = "replay"
    MENU = "menu"
    LOADING = "loading"
    CLOSED = "closed"

    @property
    def in_session(self) -> bool:
        return self in (ViewMode.DRIVING, ViewMode.MONITOR, ViewMode.REPLAY)


@dataclass
class Viewpoint:
    """One simulated game: ports, player car (a standings slot id), player name, state."""

    index: int
    player_slot: int
    player_name: str = ""  # "" = the player car's first driver
    rest_port: int = 0
    ws_port: int = 0
    state: ViewState = ViewState.SESSION
    player_file_name: str = "Settings"  # the game reports its profile file name here
    faults: dict = field(default_factory=dict)

    def mode(self, live: SessionLive | None, *, loading: bool) -> ViewMode:
        """The mode this viewpoint is in, given the race now (None: no session loaded)."""
        if self.state is ViewState.CLOSED:
            return ViewMode.CLOSED
        if self.state is ViewState.MENU:
            return ViewMode.MENU
        if loading or live is None:
            return ViewMode.LOADING
        if self.state is ViewState.REPLAY:
            return ViewMode.REPLAY
        car = live.car(self.player_slot)
        if car is not None and car.driver == self.name_in(live.script):
            return ViewMode.DRIVING
        return ViewMode.MONITOR

    def name_in(self, script: SessionScript) -> str:
        """The player's name in a session (the first driver of the player car by default)."""
        if self.player_name:
            return self.player_name
        return default_player_name(script, self.player_slot)


def default_player_name(script: SessionScript, slot: int) -> str:
    for car in script.cars:
        if car.entry.slot_id != slot:
            continue
        if car.first_driver:
            return car.first_driver
        for member in car.entry.members:
            if "Driver" in member.roles:
                return member.name
        if car.laps:
            return car.laps[0].driver
    return "Player"


def pick_player_slots(script: SessionScript, count: int) -> list[int]:
    """`count` cars of distinct teams (by team name), best grid positions first.

    Teams of the same name are still told apart by slot when there are not enough distinct names.
    """
    ordered = sorted(
        script.cars,
        key=lambda c: (c.grid_position if c.grid_position > 0 else 10_000, c.entry.slot_id),
    )
    slots: list[int] = []
    seen: set[str] = set()
    for car in ordered:
        if car.entry.team_name in seen:
            continue
        seen.add(car.entry.team_name)
        slots.append(car.entry.slot_id)
        if len(slots) == count:
            return slots
    for car in ordered:
        if len(slots) == count:
            break
        if car.entry.slot_id not in slots:
            slots.append(car.entry.slot_id)
    if len(slots) < count:
        raise ValueError(f"{count} viewpoints asked but the session has {len(script.cars)} cars")
    return slots
