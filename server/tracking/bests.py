"""Bests per class, per car and per driver in a car: lap and each sector, independently.

What counts (a decision, unlike the older tracker which also took sectors of invalid laps):
- only valid laps (a time, and the game counts it); an invalid lap's sectors are not bests;
- on a valid lap with a missing sector (the game's quirk) the other sectors and the lap time
  count, the missing one does not;
- a driver's bests are per car ("Frank Riley in #7"), attributed to the lap's driver, i.e. the
  driver who crossed the line (on a swap lap that is the incoming driver).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.tracking.laps import Lap


@dataclass(slots=True)
class Best:
    """Best lap and sectors; each entry is (time, car, lap number, driver) or None."""

    lap: tuple[float, str, int, str] | None = None
    s1: tuple[float, str, int, str] | None = None
    s2: tuple[float, str, int, str] | None = None
    s3: tuple[float, str, int, str] | None = None

    @property
    def lap_time(self) -> float | None:
        return self.lap[0] if self.lap else None

    def add(self, lap: Lap) -> bool:
        """Take `lap` into account; True when the best lap time improved."""
        improved = False
        if not lap.valid:
            return False
        for name, value in (("lap", lap.lap_time), ("s1", lap.s1), ("s2", lap.s2), ("s3", lap.s3)):
            if value <= 0:
                continue
            current = getattr(self, name)
            if current is None or value < current[0]:
                setattr(self, name, (value, lap.car, lap.lap, lap.driver))
                improved = improved or name == "lap"
        return improved

    def as_dict(self) -> dict[str, Any]:
        def one(entry: tuple[float, str, int, str] | None) -> dict[str, Any] | None:
            if entry is None:
                return None
            return {"time": entry[0], "car": entry[1], "lap": entry[2], "driver": entry[3]}

        return {"lap": one(self.lap), "s1": one(self.s1), "s2": one(self.s2), "s3": one(self.s3)}


class Bests:
    """All bests of a session."""

    def __init__(self) -> None:
        self.by_class: dict[str, Best] = {}
        self.by_car: dict[str, Best] = {}
        self.by_driver: dict[tuple[str, str], Best] = {}

    def improvements(self, lap: Lap, car_class: str) -> list[tuple[str, float | None]]:
        """Which lap bests `lap` would improve: ("class"|"car"|"driver", previous time)."""
        if not lap.valid or lap.lap_time <= 0:
            return []
        out = []
        for scope, best in (
            ("class", self.by_class.get(car_class)),
            ("car", self.by_car.get(lap.car)),
            ("driver", self.by_driver.get((lap.car, lap.driver))),
        ):
            previous = best.lap_time if best is not None else None
            if previous is None or lap.lap_time < previous:
                out.append((scope, previous))
        return out

    def add(self, lap: Lap, car_class: str) -> None:
        if not lap.valid:
            return
        self.by_class.setdefault(car_class, Best()).add(lap)
        self.by_car.setdefault(lap.car, Best()).add(lap)
        self.by_driver.setdefault((lap.car, lap.driver), Best()).add(lap)

    def as_dict(self) -> dict[str, Any]:
        return {
            "class": {name: best.as_dict() for name, best in self.by_class.items()},
            "car": {car: best.as_dict() for car, best in self.by_car.items()},
            "driver": [
                {"car": car, "driver": driver, **best.as_dict()}
                for (car, driver), best in self.by_driver.items()
            ],
        }
