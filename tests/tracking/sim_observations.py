"""Observations the way a client builds them: simulator script -> game API JSON -> normalize.

`Observer(script)` evaluates the script at an ET with the real engine, renders the endpoints a
client reads with the real renderers (REST documents and the websocket LiveStandings body) and
normalizes them with the client's own `normalize` (and its `slim` step when that module exists).
What the server holds between two client messages is the last value of every endpoint, so the
slowly polled endpoints (strategy, usage, teams) can be rendered every `slow_every` seconds and
reused in between, as the client's major interval does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest

from client.normalize import (
    SESSION_INFO,
    STANDINGS,
    STRATEGY,
    TEAMS,
    USAGE,
    WS_STANDINGS,
    normalize,
)
from server.tracking.events import Event
from server.tracking.tracker import Tracker
from sim.engine import evaluate
from sim.render import REST, TOPICS
from sim.render_base import Scene
from sim.script import SessionScript, Weekend
from sim.viewpoint import ViewMode, Viewpoint

try:  # the client's slim step (rounding, dropped fields), written in parallel
    from client.slim import slim
except ImportError:  # pragma: no cover - depends on the other helper's progress
    slim = None

HISTORY = "/rest/watch/standings/history"
SLOW = (STRATEGY, USAGE, TEAMS)


class Observer:
    """Normalized client states of one script, seen from one player car."""

    def __init__(self, script: SessionScript, player_slot: int = 0, slow_every: float = 0.0):
        self.script = script
        self.view = Viewpoint(index=0, player_slot=player_slot)
        self.weekend = Weekend([script])
        self.slow_every = slow_every
        self._slow: dict[str, Any] = {}
        self._slow_et = -1e9

    def scene(self, et: float) -> Scene:
        live = evaluate(self.script, et)
        return Scene(
            mode=ViewMode.MONITOR,
            view=self.view,
            live=live,
            script=self.script,
            weekend=self.weekend,
        )

    def state(self, et: float) -> dict[str, Any]:
        scene = self.scene(et)
        raw: dict[str, Any] = {
            SESSION_INFO: REST[SESSION_INFO].render(scene),
            STANDINGS: REST[STANDINGS].render(scene),
            WS_STANDINGS: TOPICS["LiveStandings"].render(scene),
        }
        if not 0.0 <= et - self._slow_et < self.slow_every:
            # sections are normalized independently, so the slow ones are normalized once
            self._slow = normalize({path: REST[path].render(scene) for path in SLOW})
            self._slow_et = et
        state = normalize(raw)
        for name, value in self._slow.items():
            if name == "game":
                state["game"].update((k, v) for k, v in value.items() if k != "running")
            else:
                state[name] = value
        return slim(state) if slim is not None else state

    def history(self, et: float) -> dict[str, Any]:
        return REST[HISTORY].render(self.scene(et))


def ets(start: float, end: float, step: float) -> list[float]:
    out, et = [], start
    while et <= end + 1e-9:
        out.append(round(et, 3))
        et += step
    return out


def run(tracker: Tracker, observer: Observer, times: Iterable[float]) -> list[Event]:
    events: list[Event] = []
    for et in times:
        events.extend(tracker.observe(observer.state(et), et))
    return events


def of_kind(events: Iterable[Event], kind: str) -> list[Event]:
    return [e for e in events if e.kind == kind]


def car_key(script_car) -> str:
    entry = script_car.entry
    return f"{entry.slot_id}-{entry.vehicle_file}"


# --- what the script says the game reports ---------------------------------------------------


def reported_lap(lap) -> tuple[float, float, float, float]:
    """(lap time, S1, S2, S3) as the game's cumulative splits let anyone derive them."""
    s1, s2, _ = lap.sector_times
    total = lap.lap_time if lap.lap_time > 0 else -1.0
    c1 = s1 if s1 > 0 else -1.0
    c2 = s1 + s2 if s1 > 0 and s2 > 0 else -1.0
    return (
        total,
        c1,
        c2 - c1 if c1 > 0 and c2 > 0 else -1.0,
        total - c2 if total > 0 and c2 > 0 else -1.0,
    )


def laps_at(script_car, et: float) -> int:
    """lapsCompleted of a script car at `et`."""
    return sum(1 for lap in script_car.laps if lap.end_et <= et)


def script_stops(script_car) -> list:
    """The car's scripted visits (the engine's order)."""
    return sorted(script_car.pits, key=lambda v: v.start_et)


def tracked_stops(tracker: Tracker, script_car) -> list:
    """The tracker's stops of a car, without the return to the garage after the flag."""
    stops = tracker.pit_stops(car_key(script_car))
    if script_car.finish_status == "FSTAT_FINISHED" and script_car.finish_et is not None:
        finish = script_car.finish_et
        stops = [s for s in stops if (s.entry_et or s.garage_in_et or 0.0) <= finish]
    return stops


# --- checks shared by several test files -----------------------------------------------------


def assert_laps_match(script, tracker: Tracker, *, exact_line: bool = True) -> int:
    """Every scripted lap is reported with the game's lap time, sectors, driver and number."""
    compared = 0
    for car in script.cars:
        laps = {lap.lap: lap for lap in tracker.car_laps(car_key(car))}
        assert sorted(laps) == [lap.number for lap in car.laps], car_key(car)
        for want in car.laps:
            got = laps[want.number]
            total, s1, s2, s3 = reported_lap(want)
            assert got.lap_time == pytest.approx(total, abs=1e-3), (car_key(car), want.number)
            assert got.sector_times == pytest.approx((s1, s2, s3), abs=2e-3)
            assert got.valid == (total > 0)
            assert got.driver == want.driver, (car_key(car), want.number)
            if exact_line and got.source == "live":
                assert got.end_et == pytest.approx(want.end_et, abs=1e-3)
            compared += 1
    return compared


def within(got: float | None, want: float | None, spacing: float) -> bool:
    """Seen at the first observation at or after the scripted time."""
    if want is None:
        return got is None
    return got is not None and want - 1e-6 <= got <= want + spacing + 1e-6


@dataclass
class Run:
    """A script played through a tracker: the events it gave."""

    script: SessionScript
    tracker: Tracker
    events: list[Event]
    spacing: float
    player_slot: int


def play(script: SessionScript, spacing: float, player_slot: int = 0) -> Run:
    tracker = Tracker(script.session, script.track.length)
    observer = Observer(script, player_slot=player_slot)
    events = run(tracker, observer, ets(0.0, script.final_et(), spacing))
    return Run(script, tracker, events, spacing, player_slot)
