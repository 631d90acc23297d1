"""Gaps and intervals, overall and in class, as {"laps": n, "time": s} (None: unknown).

One rule for every reference car, so the overall and class columns can never disagree:
- races, from the live rows (the game's order is live, so are its gaps): laps behind = whole
  laps of distance between the two cars (lapsCompleted x track length + lapDistance), time =
  the difference of the game's `timeBehindLeader`;
- races without live rows (after a restart, until a client feeds again): the gap at the line,
  the difference of the ETs at which both cars crossed the line that ended the behind car's
  last lap, and the laps the car ahead completed before the behind car crossed it;
- timed sessions (practice, qualifying): the difference of best laps; no best, no gap.
The reference car itself (the leader, the first of a class) has {"laps": 0, "time": None}.

(Gaps at the line for live sessions too were tried: a row then changes about once a lap
instead of every second, but a gap a lap old beside the game's live order reads wrong after
every overtake. Timing points at the sector lines would be the way to get both.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Gap = dict[str, float | int | None]


@dataclass(frozen=True)
class Running:
    """What a race gap needs of one car."""

    key: str
    car_class: str
    laps: int  # laps completed
    distance: float | None  # metres into the current lap (None: unknown)
    behind_leader: float | None  # the game's timeBehindLeader (None: unknown)
    line_ets: Mapping[int, float]  # lap number -> ET of the line that ended it (tracker facts)
    best: float | None  # best valid lap (timed sessions)


REFERENCE: Gap = {"laps": 0, "time": None}  # no gap: the car is the reference itself


def race_gap(car: Running, ahead: Running, track_length: float) -> Gap | None:
    """How far `car` is behind `ahead` in a race."""
    if car.key == ahead.key:
        return dict(REFERENCE)
    if car.behind_leader is None or ahead.behind_leader is None:
        return line_gap(car, ahead)
    time = round(max(0.0, car.behind_leader - ahead.behind_leader), 3)
    if car.distance is not None and ahead.distance is not None and track_length > 0:
        covered = (ahead.laps - car.laps) * track_length + ahead.distance - car.distance
        laps = max(0, math.floor(covered / track_length))
    else:
        laps = max(0, ahead.laps - car.laps - 1)
    return {"laps": laps, "time": time}


def line_gap(car: Running, ahead: Running) -> Gap | None:
    """The gap at the line: both cars crossing the line that ended `car`'s last lap."""
    mine = car.line_ets.get(car.laps)
    theirs = ahead.line_ets.get(car.laps)
    if car.laps <= 0 or mine is None or theirs is None:
        return None
    later = (ahead.line_ets.get(n) for n in range(car.laps + 1, ahead.laps + 1))
    laps = sum(1 for et in later if et is not None and et <= mine)
    return {"laps": laps, "time": round(max(0.0, mine - theirs), 3)}


def timed_gap(car: Running, ahead: Running) -> Gap | None:
    """How far `car`'s best lap is behind `ahead`'s."""
    if car.best is None or ahead.best is None:
        return None
    return {"laps": 0, "time": round(max(0.0, car.best - ahead.best), 3)}


def all_gaps(
    cars: Sequence[Running], is_race: bool, track_length: float
) -> dict[str, dict[str, Gap | None]]:
    """key -> {gap, interval, class_gap, class_interval} for cars in running order."""

    def between(car: Running, ahead: Running | None) -> Gap | None:
        if ahead is None or ahead is car:
            return dict(REFERENCE)  # the reference car itself: shown as "-"
        return race_gap(car, ahead, track_length) if is_race else timed_gap(car, ahead)

    out: dict[str, dict[str, Gap | None]] = {}
    leaders: dict[str, Running] = {}
    previous: dict[str, Running] = {}
    for index, car in enumerate(cars):
        out[car.key] = {
            "gap": between(car, cars[0]),
            "interval": between(car, cars[index - 1] if index else None),
            "class_gap": between(car, leaders.setdefault(car.car_class, car)),
            "class_interval": between(car, previous.get(car.car_class)),
        }
        previous[car.car_class] = car
    return out
