"""The event feed: the events a human wants to read, as short lines.

The feed is a view of the tracker's events, not extra state: `feed_item` turns one event into a
line (or None for events nobody reads in a feed, such as laps or conditions samples). Client joins
and leaves are the arbiter's; the web merges both streams by ET.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from server.tracking.events import (
    CarFinished,
    ClassBest,
    DriverSwap,
    Event,
    FullCourseYellow,
    GarageIn,
    GarageOut,
    PenaltyAdded,
    PenaltyServed,
    PersonalBest,
    PhaseChanged,
    PitEntered,
    PitExited,
    SectorFlag,
)

PHASE_NAMES = {
    0: "Starting",
    1: "Reconnaissance laps",
    2: "Grid",
    3: "Formation lap",
    4: "Countdown",
    5: "Green flag",
    6: "Full-course yellow",
    7: "Session stopped",
    8: "Checkered flag",
    9: "Paused",
}
PENALTY_NAMES = {"DT": "drive-through", "SG": "stop-and-go", "TIME": "time penalty"}
FINISH_NAMES = {
    "FSTAT_FINISHED": "finished",
    "FSTAT_CHECKERED": "took the flag",
    "FSTAT_DNF": "retired (DNF)",
    "FSTAT_DQ": "disqualified",
}


@dataclass(frozen=True, slots=True)
class FeedItem:
    et: float
    kind: str  # pit_in, pit_out, garage_in, garage_out, swap, class_best, personal_best,
    # penalty, penalty_served, yellow, fcy, phase, finish, dnf, dq
    car: str | None
    text: str


def _lap_time(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60.0)
    return f"{int(minutes)}:{rest:06.3f}"


def feed_item(event: Event, label: Callable[[str], str]) -> FeedItem | None:
    """The feed line for `event`; `label(car_key)` names a car ("#7 Team Name")."""
    et = event.et
    if isinstance(event, PitEntered):
        where = "in the pit lane" if event.estimated else "into the pits"
        return FeedItem(et, "pit_in", event.car, f"{label(event.car)} {where} (lap {event.lap})")
    if isinstance(event, PitExited):
        what = "drive-through done" if event.drive_through else "out of the pits"
        return FeedItem(et, "pit_out", event.car, f"{label(event.car)} {what}")
    if isinstance(event, GarageIn):
        return FeedItem(et, "garage_in", event.car, f"{label(event.car)} in the garage")
    if isinstance(event, GarageOut):
        return FeedItem(et, "garage_out", event.car, f"{label(event.car)} out of the garage")
    if isinstance(event, DriverSwap):
        text = f"{label(event.car)} driver change: {event.driver_out} -> {event.driver_in}"
        return FeedItem(et, "swap", event.car, text)
    if isinstance(event, ClassBest):
        text = (
            f"{label(event.car)} fastest {event.car_class} lap {_lap_time(event.lap_time)}"
            f" ({event.driver}, lap {event.lap})"
        )
        return FeedItem(et, "class_best", event.car, text)
    if isinstance(event, PersonalBest) and event.scope == "car":
        text = f"{label(event.car)} personal best {_lap_time(event.lap_time)} ({event.driver})"
        return FeedItem(et, "personal_best", event.car, text)
    if isinstance(event, PenaltyAdded):
        what = PENALTY_NAMES.get(event.added or "", "penalty")
        text = f"{label(event.car)} {what} ({event.pending} pending)"
        return FeedItem(et, "penalty", event.car, text)
    if isinstance(event, PenaltyServed):
        what = PENALTY_NAMES.get(event.served or "", "penalty")
        return FeedItem(et, "penalty_served", event.car, f"{label(event.car)} served {what}")
    if isinstance(event, SectorFlag):
        if event.flag == "YELLOW":
            return FeedItem(et, "yellow", None, f"Yellow flag in sector {event.sector}")
        if event.previous == "YELLOW":
            return FeedItem(et, "yellow", None, f"Sector {event.sector} clear")
        return None
    if isinstance(event, FullCourseYellow):
        text = "Full-course yellow" if event.on else "Full-course yellow ends"
        return FeedItem(et, "fcy", None, text)
    if isinstance(event, PhaseChanged):
        return FeedItem(et, "phase", None, event.name)
    if isinstance(event, CarFinished):
        kind = {"FSTAT_DNF": "dnf", "FSTAT_DQ": "dq"}.get(event.status, "finish")
        what = FINISH_NAMES.get(event.status)
        if what is None:
            return None
        return FeedItem(et, kind, event.car, f"{label(event.car)} {what} ({event.laps} laps)")
    return None
