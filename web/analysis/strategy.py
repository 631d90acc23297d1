"""Strategy insight from the tracker's facts: usage per lap, laps left, pit lane loss, drive time.

- Usage: virtual energy where the car has it (the game's `ve`, 0..1), else fuel (0..1). Per lap
  = the drop of the level between consecutive laps of the current run (since the last rise: a
  refill), pit and garage laps left out; the rate is the median of the last `RECENT` drops.
  Laps left = level / rate, rounded down; the projected pit lap is the last lap the car can
  complete: laps done + laps left.
- Pit lane loss, learned from the stops seen: for each closed, timed stop (not a garage visit,
  not a drive-through), the laps the visit touched (their time windows overlap entry..exit) cost
  their time minus the same number of the car's median green laps; minus the stationary time it
  is the lane loss. The session's figure is the median over stops.
- Drive time per driver (the stints' durations) against `max_drive_time` seconds when one is
  configured (else totals only).
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from server.tracking import Tracker
from server.tracking.cars import CarRecord
from server.tracking.pits import PitStop

RECENT = 5  # drops the usage rate is the median of
MIN_DROP = 1e-4  # a smaller drop is noise (a lap under yellow still uses something)


def _level(lap: Any, source: str) -> float | None:
    value = getattr(lap, source)
    return value if type(value) is float and 0.0 <= value <= 1.0 else None


def usage(car: CarRecord) -> dict[str, Any]:
    """Energy or fuel per lap, laps left at that rate and the projected pit lap."""
    laps = [car.laps[n] for n in sorted(car.laps)]
    source = "ve" if any(_level(lap, "ve") is not None for lap in laps) else "fuel"
    drops: list[float] = []
    previous = None
    level = None
    for lap in laps:
        now = _level(lap, source)
        if now is None:
            previous = None
            continue
        level = now
        if previous is not None and previous[0] == lap.lap - 1:
            drop = previous[1] - now
            if drop < 0:
                drops = []  # refilled: a new run
            elif drop > MIN_DROP and not (lap.pit or lap.garage):
                drops.append(drop)
        previous = (lap.lap, now)
    rate = statistics.median(drops[-RECENT:]) if drops else None
    laps_left = math.floor(level / rate + 1e-6) if rate and level is not None else None
    return {
        "source": source if level is not None else None,
        "level": level,
        "per_lap": round(rate, 5) if rate else None,
        "laps_left": laps_left,
        "pit_lap": car.laps_done + laps_left if laps_left is not None else None,
    }


def _green_lap(car: CarRecord) -> float | None:
    return green_lap(
        [
            lap.lap_time
            for lap in car.laps.values()
            if lap.valid and lap.lap_time > 0 and not lap.pit and not lap.garage
        ]
    )


def lap_loss(
    laps: list[tuple[float | None, float | None, float]],
    entry: float,
    exit: float,
    stationary: float | None,
    green: float,
) -> dict[str, Any] | None:
    """What one visit from `entry` to `exit` cost: the laps `(start ET, end ET, time)` whose
    windows overlap it, against as many `green` laps; None when one of them has no time."""
    touched = [
        time
        for start, end, time in laps
        if start is not None and end is not None and start < exit and end > entry
    ]
    if not touched or any(time <= 0 for time in touched):
        return None
    loss = sum(touched) - green * len(touched)
    still = stationary or 0.0
    return {
        "lane_time": round(exit - entry, 3),
        "stationary": round(still, 3),
        "loss": round(loss, 3),
        "lane_loss": round(loss - still, 3),
    }


def stop_loss(car: CarRecord, stop: PitStop, green: float) -> dict[str, Any] | None:
    """What one stop cost against green laps, or None when it cannot be measured."""
    if not stop.closed or stop.garage or stop.drive_through or stop.recovered:
        return None
    if stop.entry_et is None or stop.exit_et is None or stop.entry_estimated:
        return None
    laps = [(lap.start_et, lap.end_et, lap.lap_time) for lap in car.laps.values()]
    measured = lap_loss(laps, stop.entry_et, stop.exit_et, stop.stationary_time, green)
    if measured is None:
        return None
    return {"car": car.key, "stop": stop.number, **measured}


def medians(stops: list[dict[str, Any]]) -> dict[str, Any]:
    """The medians of measured stops (`lap_loss` dicts)."""

    def median(name: str) -> float | None:
        return round(statistics.median(s[name] for s in stops), 3) if stops else None

    return {
        "stops": len(stops),
        "lane_time": median("lane_time"),
        "stationary": median("stationary"),
        "loss": median("loss"),
        "lane_loss": median("lane_loss"),
    }


def green_lap(times: list[float]) -> float | None:
    """The median of a car's valid laps without a pit or garage visit."""
    return statistics.median(times) if times else None


def pit_loss(tracker: Tracker) -> dict[str, Any]:
    """The session's pit lane loss: medians over every measurable stop."""
    stops = []
    for car in tracker.cars.values():
        green = _green_lap(car)
        if green is None:
            continue
        for stop in car.stops:
            measured = stop_loss(car, stop, green)
            if measured is not None:
                stops.append(measured)
    return medians(stops)


def drive_times(car: CarRecord, maximum: float | None) -> list[dict[str, Any]]:
    """Seconds driven per driver (first driver first), with what is left of `maximum`."""
    totals = car.stints.drive_time()
    order = list(dict.fromkeys(stint.driver for stint in car.stints.stints))
    out = []
    for driver in order + [d for d in totals if d not in order]:
        seconds = round(totals.get(driver, 0.0), 3)
        out.append(
            {
                "driver": driver,
                "seconds": seconds,
                "stints": sum(1 for s in car.stints.stints if s.driver == driver),
                "left": round(maximum - seconds, 3) if maximum is not None else None,
                "over": maximum is not None and seconds > maximum,
            }
        )
    return out


def strategy(tracker: Tracker, order: list[str], max_drive_time: float | None) -> dict[str, Any]:
    """Per car (in `order`): usage and drive times; and the session's pit lane loss."""
    cars = []
    for key in order:
        car = tracker.cars[key]
        cars.append(
            {
                "key": key,
                "number": car.number,
                "team": car.team,
                "car_class": car.car_class,
                "laps": car.laps_done,
                "stops": len(car.stops),
                "usage": usage(car),
                "drive_times": drive_times(car, max_drive_time),
            }
        )
    return {"cars": cars, "pit_loss": pit_loss(tracker), "max_drive_time": max_drive_time}
