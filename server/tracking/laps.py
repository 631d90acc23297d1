"""Laps: the lap record and how the game's cumulative splits become sector times.

The game reports a lap as `lastLapTime` plus cumulative splits (`lastSectorTime1` = S1,
`lastSectorTime2` = S1 + S2); the lap history uses `lapTime`, `sectorTime1`, `sectorTime2` the
same way. Individual sectors are S1, S2 = split2 - split1 and S3 = lap - split2, each -1 when a
value it needs is missing (the game's "valid lap with a missing sector" quirk) and rounded to the
millisecond (the game's precision; the difference of two rounded splits would otherwise carry
float noise into bests).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, fields
from typing import Any

from server.tracking.events import LapCompleted

NO_TIME = -1.0
COUNTS = ("COUNT_LAP_AND_TIME", "CLF_LAP_AND_TIME")  # countLapFlag values of a timed lap


def _t(value: object) -> float:
    """A time the game sent: a positive number, else -1."""
    if type(value) in (int, float) and value > 0:
        return float(value)
    return NO_TIME


def sector_times(lap_time: object, split1: object, split2: object) -> tuple[float, float, float]:
    """(S1, S2, S3) from a lap time and cumulative splits; -1 where a value is missing."""
    lap, c1, c2 = _t(lap_time), _t(split1), _t(split2)
    s1 = round(c1, 3) if c1 > 0 else NO_TIME
    s2 = round(c2 - c1, 3) if c1 > 0 and c2 > c1 else NO_TIME
    s3 = round(lap - c2, 3) if lap > 0 and c2 > 0 and lap > c2 else NO_TIME
    return s1, s2, s3


def lap_time(value: object) -> float:
    t = _t(value)
    return round(t, 3) if t > 0 else NO_TIME


def counts(flag: object) -> bool:
    """Whether a countLapFlag lets a lap's time count (absent: assume it does)."""
    return flag is None or flag in COUNTS


@dataclass(slots=True)
class Lap:
    """One lap of one car as the tracker knows it (a `LapCompleted` plus `LapUpdated`s)."""

    car: str
    lap: int
    lap_time: float
    s1: float
    s2: float
    s3: float
    valid: bool
    driver: str
    position: int | None
    class_position: int | None
    start_et: float | None
    end_et: float | None
    pit: bool
    garage: bool
    fuel: float | None
    ve: float | None
    compounds: tuple[str, str, str, str] | None
    source: str
    tyre_wear: tuple[float, float, float, float] | None = None
    player: bool = False  # taken from the player's own view (fuel left for usage to resolve)

    @property
    def sector_times(self) -> tuple[float, float, float]:
        return self.s1, self.s2, self.s3

    @classmethod
    def from_event(cls, event: LapCompleted) -> Lap:
        """A lap from its event. A race holds tens of thousands of laps: the same few car keys,
        driver names and compounds are interned so each lap does not keep its own copies."""
        values = {name: getattr(event, name) for name in _LAP_FIELDS}
        for name in ("car", "driver", "source"):
            if type(values[name]) is str:
                values[name] = sys.intern(values[name])
        compounds = values["compounds"]
        if compounds is not None:
            values["compounds"] = tuple(sys.intern(c) if type(c) is str else c for c in compounds)
        return cls(**values)

    def update(self, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            if name in _ALL_FIELDS:
                if name in ("compounds", "tyre_wear") and isinstance(value, list):
                    value = tuple(value)
                setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _ALL_FIELDS}


_LAP_FIELDS = tuple(f.name for f in fields(LapCompleted) if f.name not in ("et", "kind"))
_ALL_FIELDS = tuple(f.name for f in fields(Lap))


def history_lap(row: dict[str, Any]) -> dict[str, Any] | None:
    """The facts of one completed-lap row of `/rest/watch/standings/history`, or None."""
    number = row.get("totalLaps")
    if type(number) is not int or number < 1:
        return None
    total = lap_time(row.get("lapTime"))
    s1, s2, s3 = sector_times(total, row.get("sectorTime1"), row.get("sectorTime2"))
    position = row.get("position")
    driver = row.get("driverName")
    return {
        "lap": number,
        "lap_time": total,
        "s1": s1,
        "s2": s2,
        "s3": s3,
        "valid": total > 0,
        "driver": driver if type(driver) is str else "",
        "position": position if type(position) is int and position > 0 else None,
        "pit": row.get("pitting") is True,
    }
