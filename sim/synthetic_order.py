"""The synthetic running order: the race grid, who takes the flag when, positions at the line.

Cars are generated one at a time, so anything that depends on the others (the default grid,
the leader's flag ending everyone's race, overall positions) is settled here, over all cars.
"""

from __future__ import annotations

import math
import random

from sim.script import CAR_CLASSES, CarScript, Lap
from sim.synthetic_car import Car
from sim.synthetic_session import Session


def default_grid(rng: random.Random, cars: list[Car]) -> list[int]:
    order = {c: i for i, c in enumerate(CAR_CLASSES)}
    keyed = [
        (order[c.entry.car_class], c.base * (1 + rng.gauss(0, 0.004)), c.entry.slot_id)
        for c in cars
    ]
    return [k[2] for k in sorted(keyed)]


def finish_race(ses: Session, cars: list[Car]) -> None:
    """The leader takes the flag at its first crossing after max_time; everyone else at theirs."""
    running = [c for c in cars if not c.done]
    for car in running:
        while not car.done and car.t <= ses.max_time:
            car.race_lap()
    running = [c for c in running if not c.done]
    if not running:
        return

    def standing(car: Car) -> tuple[int, float]:
        done = [lap for lap in car.script.laps if lap.end_et <= ses.max_time]
        return (-len(done), done[-1].end_et if done else math.inf)

    leader = min(running, key=lambda c: (*standing(c), c.entry.slot_id))
    flag = next(lap.end_et for lap in leader.script.laps if lap.end_et > ses.max_time)
    for car in running:
        while not car.done and car.t < flag:
            car.race_lap()
        if car.done:
            continue
        car.script.finish_status = "FSTAT_FINISHED"
        car.script.finish_et = car.script.laps[-1].end_et


def positions(cars: list[CarScript], timed: bool) -> None:
    """Overall position at each line crossing: laps then time (races), best lap (timed)."""
    if not timed:
        by_number: dict[int, list[tuple[float, int, Lap]]] = {}
        for car in cars:
            for lap in car.laps:
                by_number.setdefault(lap.number, []).append((lap.end_et, car.entry.slot_id, lap))
        for crossings in by_number.values():
            crossings.sort(key=lambda c: (c[0], c[1]))
            for pos, (_, _, lap) in enumerate(crossings, start=1):
                lap.position = pos
        return
    events = sorted(
        ((lap.end_et, car.entry.slot_id, lap) for car in cars for lap in car.laps),
        key=lambda e: (e[0], e[1]),
    )
    best: dict[int, float] = {}
    slots = sorted(car.entry.slot_id for car in cars)
    for _, slot, lap in events:
        if lap.lap_time > 0 and lap.lap_time < best.get(slot, math.inf):
            best[slot] = lap.lap_time
        mine = best.get(slot, math.inf)
        if mine < math.inf:
            ahead = sum(1 for s, b in best.items() if b < mine or (b == mine and s < slot))
        else:
            ahead = len(best) + sum(1 for s in slots if s < slot and s not in best)
        lap.position = ahead + 1
