"""The running order: positions, class positions, gaps, laps behind and blue flags.

Races are ordered by laps completed and distance (finished cars by the order they took the
flag); before the start, by the grid. Timed sessions are ordered by the best lap so far.

Race gaps use timing points (the line and the two sector ends): a car's gap to the car ahead is
the ET at which it passed its latest point minus the ET at which the car ahead passed that same
point (clamped at 0). The gap to the leader is the sum of the gaps to the next car, so the two
always agree. Laps behind counts the whole laps of the other car's distance lead.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from sim.engine_car import CarIndex, Where
from sim.snapshot import CarLive

BLUE_SECONDS = 2.0


def race_key(idx: CarIndex, car: CarLive, where: Where, started: bool) -> tuple:
    if not started:
        return (idx.grid_rank, car.slot_id)
    finished = car.finish_status != "FSTAT_NONE" and idx.car.finish_et is not None
    if finished:
        return (-car.laps_completed, 0, idx.car.finish_et, idx.grid_rank, car.slot_id)
    return (-car.laps_completed, 1, -where.progress, idx.grid_rank, car.slot_id)


def timed_key(idx: CarIndex, car: CarLive) -> tuple:
    if car.best_lap_time <= 0:
        return (1, 0.0, 0.0, car.slot_id)
    best = idx.laps[idx.best_idx[len(car.completed_laps) - 1]]
    return (0, car.best_lap_time, best.end_et, car.slot_id)


def assign_positions(cars: Sequence[CarLive]) -> None:
    """Overall positions from list order; class positions within each class."""
    per_class: dict[str, int] = {}
    for pos, car in enumerate(cars, start=1):
        car.position = pos
        cls = car.script.entry.car_class
        per_class[cls] = per_class.get(cls, 0) + 1
        car.class_position = per_class[cls]


def race_gaps(order: Sequence[tuple[CarIndex, CarLive, Where]], et: float, length: float) -> None:
    """Fill laps/time behind leader, next and class leader for a race."""
    points = [idx.point_at(et) for idx, _, _ in order]
    progress = [where.progress for _, _, where in order]
    cumulative = 0.0
    totals: list[float] = []
    class_leader: dict[str, int] = {}
    for k, (_idx, car, _where) in enumerate(order):
        p, t = points[k]
        cls = car.script.entry.car_class
        leader_of_class = class_leader.setdefault(cls, k)
        gap_next = 0.0
        if k > 0 and p >= 0:
            ahead_t = order[k - 1][0].passed(p, et)
            if ahead_t is not None:
                gap_next = max(0.0, t - ahead_t)
        cumulative = cumulative + gap_next if k > 0 else 0.0
        totals.append(cumulative)
        mine = progress[k]
        car.laps_behind_leader = _whole_laps(progress[0] - mine, length) if k else 0
        car.laps_behind_next = _whole_laps(progress[k - 1] - mine, length) if k else 0
        car.laps_behind_class_leader = _whole_laps(progress[leader_of_class] - mine, length)
        car.time_behind_next = gap_next
        car.time_behind_leader = cumulative
        car.time_behind_class_leader = cumulative - totals[leader_of_class]


def _whole_laps(ahead: float, length: float) -> int:
    """Whole laps in a distance lead (0 when less than a lap ahead)."""
    return max(0, int(ahead // length + 1e-9)) if length > 0 else 0


def timed_gaps(cars: Sequence[CarLive]) -> None:
    """Timed sessions: best-lap differences; 0 without a time; no laps behind."""
    leader_best = cars[0].best_lap_time if cars else -1.0
    class_best: dict[str, float] = {}
    prev = -1.0
    for car in cars:
        best = car.best_lap_time
        cls = car.script.entry.car_class
        cbest = class_best.setdefault(cls, best)
        timed = best > 0
        car.laps_behind_leader = car.laps_behind_next = car.laps_behind_class_leader = 0
        car.time_behind_leader = best - leader_best if timed and leader_best > 0 else 0.0
        car.time_behind_next = best - prev if timed and prev > 0 else 0.0
        car.time_behind_class_leader = best - cbest if timed and cbest > 0 else 0.0
        prev = best


def blue_flags(order: Sequence[tuple[CarIndex, CarLive, Where]], length: float) -> None:
    """BLUE for a car with a faster car (a lap or more ahead) within ~2 s behind on track."""
    running = [
        (where.progress % length, where.progress, car)
        for _idx, car, where in order
        if not where.in_garage and not car.pitting and where.progress >= 0
    ]
    if len(running) < 2 or length <= 0:
        return
    running.sort(key=lambda r: r[0])
    spots = [r[0] for r in running]
    n = len(running)
    for spot, progress, car in running:
        pace = length / car.estimated_lap_time if car.estimated_lap_time > 0 else 50.0
        window = BLUE_SECONDS * pace
        i = bisect.bisect_left(spots, spot) - 1
        for step in range(n - 1):
            other_spot, other_progress, _ = running[(i - step) % n]
            behind = (spot - other_spot) % length
            if behind > window:
                break
            if other_progress - progress >= length - window - 1e-9:
                car.flag = "BLUE"
                break
