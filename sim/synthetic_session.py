"""The context every car of a synthetic session shares while its laps are generated.

`Session` holds the session's random source, track, clocks, full-course yellows, weather and
sector weights, with the two questions cars ask of it (time under yellow, time in the pit
lane). It sits in its own module because the car model and the session-wide timelines both
read it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sim.script import Track
from sim.synthetic_weather import Weather

PIT_SPEED = 60.0 / 3.6  # pit-lane limiter, m/s


@dataclass
class Session:
    """What every car of a session shares: track, clocks, yellows, weather."""

    rng: random.Random
    kind: str
    track: Track
    max_time: float
    start_et: float
    weather: Weather
    fcy: list[tuple[float, float]]
    sector_weights: tuple[float, float, float]

    @property
    def is_race(self) -> bool:
        return self.kind.startswith("RACE")

    def fcy_overlap(self, start: float, end: float) -> float:
        return sum(max(0.0, min(end, b) - max(start, a)) for a, b in self.fcy)

    def lane(self, fraction: float) -> float:
        """Seconds to drive `fraction` of a lap at the pit-lane limit."""
        return fraction * self.track.length / PIT_SPEED
