"""What the tracker says happened: small frozen records, each stamped with the event time.

Events are the tracker's only output and its only memory: `Tracker.restore` rebuilds every fact
from them, so each piece of state the tracker needs to go on lives in some event. They are plain
data (`dataclasses.asdict` gives JSON-able dicts: str, int, float, bool, None, lists, dicts) and
`event_from_dict` reads such a dict back, so the store can keep them as JSON rows.

Conventions:
- `et` is the event time (session seconds) of the observation that revealed the fact. Where the
  fact itself happened at another moment, the event says so in its own field (a lap's `end_et`).
- `car` is the car key `"<slotID>-<vehicleFilename>"`; `stop` is the car's pit stop number
  (1-based, in order of the visits); `lap` numbers are the game's `lapsCompleted` after the lap.
- Times the game could not give are `-1.0` for lap and sector times (the game's convention) and
  `None` everywhere else.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

Tyres4 = tuple[str, str, str, str]
Flags4 = tuple[bool, bool, bool, bool]


@dataclass(frozen=True)
class Event:
    """Base of every event: its `kind` names the type in stored JSON."""

    et: float
    kind: str = field(default="event", init=False)


# --- cars ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CarJoined(Event):
    """A car seen for the first time, with what the tracker counts from (`laps`, `lap_start_et`)."""

    kind: str = field(default="car_joined", init=False)
    car: str
    slot: int
    vehicle: str
    vehicle_name: str
    team: str
    number: str
    car_class: str
    driver: str
    grid: int  # grid position (the standings' `qualification`; -1 none)
    laps: int  # lapsCompleted at first sight
    lap_start_et: float
    penalties: int
    pitstops: int  # the game's count of stops made before first sight
    finish_status: str


@dataclass(frozen=True)
class LapStarted(Event):
    """The car started a lap without completing one (the race start, out of the garage)."""

    kind: str = field(default="lap_started", init=False)
    car: str
    lap: int  # the lap now being driven (lapsCompleted + 1)
    start_et: float


@dataclass(frozen=True)
class LapCompleted(Event):
    """One lap of one car, reported once.

    `source`: "live" (seen at the line), "late" (taken from `lastLapTime` after a gap; the
    at-the-line values such as position are those of the moment it was seen) or "history"
    (recovered by `backfill` from the game's lap history).
    """

    kind: str = field(default="lap_completed", init=False)
    car: str
    lap: int
    lap_time: float  # -1.0: no time
    s1: float  # individual sector times, -1.0 when missing
    s2: float
    s3: float
    valid: bool  # has a time and counts (countLapFlag)
    driver: str  # the driver who crossed the line
    position: int | None
    class_position: int | None
    start_et: float | None  # ET at the line when the lap began
    end_et: float | None  # ET at the line when it ended (lapStartET of the next lap)
    pit: bool  # the car was in the pit lane during this lap
    garage: bool  # the car was in its garage during this lap
    fuel: float | None  # fraction at the line; None: unknown (the player's own car)
    ve: float | None  # virtual energy fraction at the line; None: car has none / unknown
    compounds: Tyres4 | None  # FL, FR, RL, RR from the websocket standings
    source: str = "live"
    player: bool = False  # seen in the player's own view: its fuel waits for the usage


@dataclass(frozen=True)
class LapUpdated(Event):
    """Late data improved a lap (usage resolving fuel, history correcting a late lap)."""

    kind: str = field(default="lap_updated", init=False)
    car: str
    lap: int
    changes: dict[str, Any]


@dataclass(frozen=True)
class LapsMissed(Event):
    """Laps no observation saw (a hole, or a car first seen mid-session): backfill fills them."""

    kind: str = field(default="laps_missed", init=False)
    car: str
    laps: tuple[int, ...]


@dataclass(frozen=True)
class CarFinished(Event):
    """The car's finish status changed to finished, DNF or DQ."""

    kind: str = field(default="car_finished", init=False)
    car: str
    status: str  # FSTAT_FINISHED, FSTAT_CHECKERED, FSTAT_DNF, FSTAT_DQ, FSTAT_NONE
    laps: int


# --- pit stops -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PitEntered(Event):
    """A pit stop begins: the car entered the pit lane (or was first seen in it)."""

    kind: str = field(default="pit_entered", init=False)
    car: str
    stop: int
    lap: int  # the lap being driven (lapsCompleted + 1)
    estimated: bool = False  # the entry itself was not seen (first sight already in the lane)


@dataclass(frozen=True)
class PitStopped(Event):
    """The car stopped in its box."""

    kind: str = field(default="pit_stopped", init=False)
    car: str
    stop: int
    lap: int  # the lap being driven when it stopped (> the stop's lap: box after the line)
    estimated: bool = False  # the stationary phase was not seen; ET is the release's


@dataclass(frozen=True)
class PitReleased(Event):
    """The car left its box."""

    kind: str = field(default="pit_released", init=False)
    car: str
    stop: int
    lap: int


@dataclass(frozen=True)
class PitExited(Event):
    """The car is back on track; the stop is closed."""

    kind: str = field(default="pit_exited", init=False)
    car: str
    stop: int
    lap: int
    drive_through: bool = False  # it never stopped
    estimated: bool = False  # decided late (pit state stuck on EXITING, a gap)


@dataclass(frozen=True)
class GarageIn(Event):
    """The car is in its garage stall (a stop of its own when not already in the pit lane)."""

    kind: str = field(default="garage_in", init=False)
    car: str
    stop: int
    lap: int


@dataclass(frozen=True)
class GarageOut(Event):
    kind: str = field(default="garage_out", init=False)
    car: str
    stop: int
    lap: int


@dataclass(frozen=True)
class DriverSwap(Event):
    """Another driver took the car (`stop` None: not during a known stop, e.g. in a gap)."""

    kind: str = field(default="driver_swap", init=False)
    car: str
    stop: int | None
    lap: int
    driver_out: str
    driver_in: str


@dataclass(frozen=True)
class PitStopRecovered(Event):
    """A stop no observation saw (a hole, or before the car was first seen), known from its
    strategy entry: a closed stop without times, resolved by the `PitServiced` that follows."""

    kind: str = field(default="pit_stop_recovered", init=False)
    car: str
    stop: int
    lap: int


@dataclass(frozen=True)
class PitServiced(Event):
    """The game's strategy entry for a stop: what the crew did (it arrives after the stop)."""

    kind: str = field(default="pit_serviced", init=False)
    car: str
    stop: int
    strategy_lap: int
    strategy_key: str  # the entry's key in the normalized strategy ("12", "12#2")
    service_time: float | None  # stationary seconds as the game counts them
    fuel: float | None  # fraction after the stop (the game tells only the own team)
    ve: float | None
    tyres_changed: Flags4 | None
    compounds: Tyres4 | None
    driver_swap: bool
    penalty: bool


@dataclass(frozen=True)
class PenaltyAdded(Event):
    kind: str = field(default="penalty_added", init=False)
    car: str
    pending: int  # the game's pending count after the change
    kind_counts: dict[str, int] | None  # DT/SG/TIME from the websocket standings when known
    added: str | None  # which kind grew, when known


@dataclass(frozen=True)
class PenaltyServed(Event):
    kind: str = field(default="penalty_served", init=False)
    car: str
    pending: int
    kind_counts: dict[str, int] | None
    served: str | None
    stop: int | None  # the stop it was served at, when there is one


# --- bests -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonalBest(Event):
    """A car's (`scope="car"`) or a driver's in that car (`scope="driver"`) best lap improved."""

    kind: str = field(default="personal_best", init=False)
    car: str
    driver: str
    lap: int
    lap_time: float
    previous: float | None
    scope: str


@dataclass(frozen=True)
class ClassBest(Event):
    """Fastest lap of a class so far."""

    kind: str = field(default="class_best", init=False)
    car: str
    car_class: str
    driver: str
    lap: int
    lap_time: float
    previous: float | None


# --- session ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhaseChanged(Event):
    kind: str = field(default="phase_changed", init=False)
    phase: int
    name: str
    previous: int | None


@dataclass(frozen=True)
class FullCourseYellow(Event):
    kind: str = field(default="full_course_yellow", init=False)
    on: bool


@dataclass(frozen=True)
class SectorFlag(Event):
    """A sector's flag changed (`sector` 1..3; flag UNKNOWN, YELLOW, RED, CHECKERED)."""

    kind: str = field(default="sector_flag", init=False)
    sector: int
    flag: str
    previous: str | None


@dataclass(frozen=True)
class ConditionsSample(Event):
    kind: str = field(default="conditions", init=False)
    air_temp: float | None
    track_temp: float | None
    raining: float | None
    dark_cloud: float | None
    wetness_avg: float | None
    wetness_min: float | None
    wetness_max: float | None
    time_remaining: float | None
    phase: int | None


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__dataclass_fields__["kind"].default: cls
    for cls in (
        CarJoined,
        LapStarted,
        LapCompleted,
        LapUpdated,
        LapsMissed,
        CarFinished,
        PitEntered,
        PitStopped,
        PitReleased,
        PitExited,
        GarageIn,
        GarageOut,
        DriverSwap,
        PitStopRecovered,
        PitServiced,
        PenaltyAdded,
        PenaltyServed,
        PersonalBest,
        ClassBest,
        PhaseChanged,
        FullCourseYellow,
        SectorFlag,
        ConditionsSample,
    )
}


def event_to_dict(event: Event) -> dict[str, Any]:
    """The event's fields, `kind` included: what the store keeps (JSON-able)."""
    return dataclasses.asdict(event)


def event_from_dict(doc: dict[str, Any]) -> Event:
    """The event `event_to_dict` (or its JSON round trip: lists for tuples) described."""
    cls = EVENT_TYPES[doc["kind"]]
    values = {}
    for f in _fields(cls):
        if not f.init or f.name not in doc:
            continue
        value = doc[f.name]
        if f.name in _tuple_fields(cls) and isinstance(value, list):
            value = tuple(value)
        values[f.name] = value
    return cls(**values)


_FIELDS: dict[type, tuple[dataclasses.Field, ...]] = {}
_TUPLES: dict[type, frozenset[str]] = {}


def _fields(cls: type) -> tuple[dataclasses.Field, ...]:
    if cls not in _FIELDS:
        _FIELDS[cls] = dataclasses.fields(cls)
    return _FIELDS[cls]


def _tuple_fields(cls: type) -> frozenset[str]:
    """Fields annotated with a tuple type (JSON turns them into lists)."""
    if cls not in _TUPLES:
        hints = typing.get_type_hints(cls)
        names = set()
        for name, hint in hints.items():
            options = typing.get_args(hint) if _is_union(hint) else (hint,)
            if any(typing.get_origin(o) is tuple for o in options):
                names.add(name)
        _TUPLES[cls] = frozenset(names)
    return _TUPLES[cls]


def _is_union(hint: object) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


__all__ = [*(cls.__name__ for cls in EVENT_TYPES.values()), "Event", "event_from_dict"]
