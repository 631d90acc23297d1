"""A synthetic race played through the real chain the views read: simulator script -> the
game's answers (`sim.render.game_answers`) -> the client's `Slimmer` -> a real `Tracker`.

Shared by the pure view tests (car, map, feed, entries). One race, played once per process:
10 cars on a procedural circuit, the first ~41 minutes observed every 2 s (laps, the first
fuel stops, one with a driver change, chat, and the generator's HTML-named driver renamed to
the classic XSS probe).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from client.slim import Slimmer
from server.tracking import Tracker
from sim.render import game_answers
from sim.script import SessionScript, Weekend
from sim.synthetic import generate_session
from web.views.model import SessionInput

XSS_NAME = "<img src=x onerror=alert(1)>"
HTML_NAME = "<b>Bold</b> Racer"  # the generator's own HTML-named driver
FED_AT = 1_800_000_000.0  # the unix time of the last feed in the inputs (views read no clock)


@dataclass
class Race:
    script: SessionScript
    tracker: Tracker
    state: dict[str, Any]  # the last observed state
    et: float
    states: dict[float, dict[str, Any]]  # a few states by ET, for "before/after" tests

    def input(
        self,
        state: dict[str, Any] | None = None,
        et: float | None = None,
        now: float = FED_AT,
        tracker: Tracker | bool | None = True,
    ) -> SessionInput:
        """The views' input for the race at its last observation (or a given state/ET)."""
        return SessionInput(
            meta={
                "session_id": "race-1",
                "track": self.state["session"]["trackName"],
                "session_type": "RACE1",
                "closed": False,
            },
            tracker=self.tracker if tracker is True else (tracker or None),
            state=self.state if state is None else state,
            state_et=self.et if et is None else et,
            fed_at=FED_AT,
            now=now,
        )

    def xss_car(self) -> str:
        for car in self.script.cars:
            if any(m.name == XSS_NAME for m in car.entry.members):
                return f"{car.entry.slot_id}-{car.entry.vehicle_file}"
        raise AssertionError("no car has the XSS-named driver")

    def state_copy(self) -> dict[str, Any]:
        return copy.deepcopy(self.state)


def _rename(script: SessionScript, old: str, new: str) -> None:
    for car in script.cars:
        for i, member in enumerate(car.entry.members):
            if member.name == old:
                car.entry.members[i] = replace(member, name=new)
        if old in car.entry.steam_ids:
            car.entry.steam_ids[new] = car.entry.steam_ids.pop(old)
        if car.first_driver == old:
            car.first_driver = new
        for lap in car.laps:
            if lap.driver == old:
                lap.driver = new
        for visit in car.pits:
            if visit.driver_in == old:
                visit.driver_in = new


@cache
def race(
    until: float = 2450.0, step: float = 2.0, keep: tuple[float, ...] = (2400.0, 2402.0, 2404.0)
) -> Race:
    """The race observed from ET 60 to `until` (the first stops are at 2246-2351 s)."""
    script = generate_session(seed=7, cars=10, duration=3600)
    Weekend([script])  # the script is usable on its own, as in a weekend of one session
    _rename(script, HTML_NAME, XSS_NAME)
    slim = Slimmer()
    tracker: Tracker | None = None
    state: dict[str, Any] = {}
    states: dict[float, dict[str, Any]] = {}
    et = 60.0
    while et <= until:
        state = slim(game_answers(script, et))
        if tracker is None:
            session = state["session"]
            tracker = Tracker(session["session"], session["lapDistance"])
        tracker.observe(state, et)
        if et in keep:
            states[et] = copy.deepcopy(state)
        et += step
    assert tracker is not None
    return Race(script, tracker, state, et - step, states)
