"""What the tracker knows about one car: identity, counters, laps, stops and stints.

A `CarRecord` changes only when the tracker applies an event, so it is the same after a restore
from events as it was before.
"""

from __future__ import annotations

from typing import Any

from server.tracking.events import CarJoined
from server.tracking.laps import Lap
from server.tracking.pits import PitStop
from server.tracking.stints import StintBook

RETIRED = ("FSTAT_DNF", "FSTAT_DQ")
DONE = ("FSTAT_FINISHED", "FSTAT_CHECKERED", "FSTAT_DNF", "FSTAT_DQ")


class CarRecord:
    def __init__(self, joined: CarJoined) -> None:
        self.key = joined.car
        self.slot = joined.slot
        self.vehicle = joined.vehicle
        self.vehicle_name = joined.vehicle_name
        self.team = joined.team
        self.number = joined.number
        self.car_class = joined.car_class
        self.grid = joined.grid
        self.joined_et = joined.et
        self.driver = joined.driver
        self.laps_done = joined.laps  # the highest lapsCompleted accounted for
        self.lap_start_et = joined.lap_start_et  # when the lap being driven began
        self.penalties = joined.penalties  # pending, as the game counts them
        self.penalties_total = joined.penalties
        self.penalty_kinds: dict[str, int] | None = None
        self.pitstops_seen = joined.pitstops  # the game's stop counter as far as accounted
        self.finish_status = joined.finish_status
        self.laps: dict[int, Lap] = {}
        self.missing: set[int] = set()
        self.stops: list[PitStop] = []
        self.open_stop: PitStop | None = None
        self.pit_this_lap = False
        self.garage_this_lap = False
        self.stints = StintBook(self.key)
        self.awaiting_usage: list[int] = []  # player laps whose fuel the usage may still tell
        self.resolved_stops = 0  # stops matched to a strategy entry
        # A cache, not a fact: what the strategy matching last looked at. Matching is a pure
        # function of the car's facts and the entries, so it only runs when this changes.
        self.service_seen: tuple | None = None

    def stop(self, number: int | None) -> PitStop | None:
        if number is None or not 1 <= number <= len(self.stops):
            return None
        return self.stops[number - 1]

    @property
    def in_garage(self) -> bool:
        stop = self.open_stop
        return stop is not None and stop.phase == "garage"

    @property
    def finished(self) -> bool:
        return self.finish_status in DONE

    @property
    def last_line_et(self) -> float | None:
        """ET of the last line crossing known (the end of the highest lap with an ET)."""
        for number in sorted(self.laps, reverse=True):
            end = self.laps[number].end_et
            if end is not None:
                return end
        return None

    @property
    def label(self) -> str:
        return f"#{self.number} {self.team}".strip()

    def drivers(self) -> set[str]:
        known = {lap.driver for lap in self.laps.values() if lap.driver}
        known.add(self.driver)
        return known

    def summary(self) -> dict[str, Any]:
        return {
            "car": self.key,
            "slot": self.slot,
            "vehicle": self.vehicle,
            "vehicle_name": self.vehicle_name,
            "team": self.team,
            "number": self.number,
            "car_class": self.car_class,
            "grid": self.grid,
            "driver": self.driver,
            "laps": self.laps_done,
            "missing_laps": sorted(self.missing),
            "pit_stops": len(self.stops),
            "in_pits": self.open_stop is not None,
            "in_garage": self.in_garage,
            "penalties_pending": self.penalties,
            "penalties_total": self.penalties_total,
            "finish_status": self.finish_status,
            "last_line_et": self.last_line_et,
        }
