"""Stints: continuous driving of one driver in one car, and drive time per driver.

Boundaries (a decision; endurance teams count driver stints, and fuel stops are listed within
them):
- A stint starts when the car starts driving: its first lap starts (the race start, or the first
  lap seen), it leaves the pit lane after a garage visit (from the garage exit: a car that
  goes back into the garage from the lane drove no stint), or another driver takes it
  (`DriverSwap`, at the swap's ET).
- A stint ends at a driver swap, when the car goes into its garage (the car is off the track, so
  garage time is nobody's drive time) and at the car's finish (DNF, DQ, flag).
- Regular pit stops without a swap stay inside the stint (`stops` counts them); the time in the
  pit lane and the box is drive time.
- An open stint's end is the car's last line crossing (not "now"): durations are facts the events
  fix, the same after a restore.
Laps belong to the stint that is open when they are completed (so a swap lap, whose line the new
driver crossed, belongs to the new driver's stint, like `Lap.driver`). Best and average count
valid laps only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Stint:
    car: str
    number: int
    driver: str
    start_et: float
    end_et: float | None = None  # None: still open
    ended_by: str | None = None  # "swap", "garage", "finish"
    first_lap: int | None = None
    last_lap: int | None = None
    laps: int = 0
    valid_laps: int = 0
    best_lap: float | None = None
    total_valid_time: float = 0.0
    stops: int = 0
    last_line_et: float | None = None

    @property
    def open(self) -> bool:
        return self.end_et is None

    @property
    def average_lap(self) -> float | None:
        if not self.valid_laps:
            return None
        return round(self.total_valid_time / self.valid_laps, 3)

    @property
    def duration(self) -> float:
        end = self.end_et
        if end is None:
            end = self.last_line_et if self.last_line_et is not None else self.start_et
        return round(max(0.0, end - self.start_et), 3)

    def add_lap(self, number: int, lap_time: float, valid: bool, end_et: float | None) -> None:
        if self.first_lap is None:
            self.first_lap = number
        self.last_lap = number
        self.laps += 1
        if valid and lap_time > 0:
            self.valid_laps += 1
            self.total_valid_time += lap_time
            if self.best_lap is None or lap_time < self.best_lap:
                self.best_lap = lap_time
        if end_et is not None:
            self.last_line_et = end_et

    def as_dict(self) -> dict[str, Any]:
        return {
            "car": self.car,
            "number": self.number,
            "driver": self.driver,
            "start_et": self.start_et,
            "end_et": self.end_et,
            "ended_by": self.ended_by,
            "first_lap": self.first_lap,
            "last_lap": self.last_lap,
            "laps": self.laps,
            "best_lap": self.best_lap,
            "average_lap": self.average_lap,
            "stops": self.stops,
            "duration": self.duration,
        }


class StintBook:
    """The stints of one car."""

    def __init__(self, car: str) -> None:
        self.car = car
        self.stints: list[Stint] = []

    @property
    def current(self) -> Stint | None:
        if self.stints and self.stints[-1].open:
            return self.stints[-1]
        return None

    def start(self, driver: str, et: float) -> None:
        if self.current is None:
            self.stints.append(Stint(self.car, len(self.stints) + 1, driver, et))

    def end(self, et: float, why: str) -> None:
        stint = self.current
        if stint is not None:
            stint.end_et = max(et, stint.start_et)
            stint.ended_by = why

    def swap(self, driver_in: str, et: float) -> None:
        if self.current is not None:
            self.end(et, "swap")
            self.start(driver_in, et)

    def finish(self, et: float) -> None:
        stint = self.current
        if stint is not None:
            self.end(stint.last_line_et if stint.last_line_et is not None else et, "finish")

    def lap(self, number: int, lap_time: float, valid: bool, end_et: float | None) -> None:
        stint = self.current
        if stint is not None:
            stint.add_lap(number, lap_time, valid, end_et)

    def stop(self) -> None:
        stint = self.current
        if stint is not None:
            stint.stops += 1

    def drive_time(self) -> dict[str, float]:
        """Seconds driven per driver in this car."""
        out: dict[str, float] = {}
        for stint in self.stints:
            out[stint.driver] = round(out.get(stint.driver, 0.0) + stint.duration, 3)
        return out
