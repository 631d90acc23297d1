"""Step functions of time built once per car: fuel, virtual energy, tyre wear, compounds, driver.

The game updates a car's fuel, energy and wear only when the car completes a sector (a known
quirk), and jumps them at a pit stop when the car is released. Each quantity is therefore a
piecewise-constant function of ET; we build its breakpoints once and answer with one bisect.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sim.script import Lap, PitVisit

T = TypeVar("T")
Vec = tuple[float, ...]


@dataclass(frozen=True)
class Steps(Generic[T]):
    """A value that changes only at `ets` (ascending); `values[i]` holds from `ets[i]` on."""

    ets: list[float]
    values: list[T]

    def at(self, et: float) -> T:
        idx = bisect.bisect_right(self.ets, et) - 1
        return self.values[idx if idx >= 0 else 0]


def service_et(visit: PitVisit) -> float | None:
    """When the crew's work shows: at release from the box, or when leaving the garage."""
    return visit.release_et if visit.release_et is not None else visit.garage_out_et


def sector_stepped(
    laps: Sequence[Lap],
    start: Vec,
    line_value: Callable[[Lap], Vec],
    services: Sequence[tuple[float, Callable[[Vec], Vec]]],
) -> Steps[Vec]:
    """Values that step at each sector end towards the lap's line value, and jump at services.

    Within a lap, the value moves a third of the way at the end of S1, half of the rest at the
    end of S2 and reaches `line_value(lap)` at the line: linear from wherever it was, so a refuel
    mid-lap restarts the interpolation from the refuelled value. After a service inside a lap the
    rest of that lap keeps the serviced value: the car is in the pit lane and a script's line
    value for the in-lap may predate the refuel.
    """
    events: list[tuple[float, int, int, int]] = []  # (et, order, payload index, steps left)
    for j, lap in enumerate(laps):
        s1 = lap.start_et + lap.sectors[0]
        s2 = s1 + lap.sectors[1]
        events.append((s1, 1, j, 3))
        events.append((s2, 1, j, 2))
        events.append((lap.end_et, 1, j, 1))
    for k, (et, _) in enumerate(services):
        events.append((et, 0, k, 0))
    events.sort(key=lambda e: (e[0], e[1]))

    ets: list[float] = [float("-inf")]
    values: list[Vec] = [start]
    cur = start
    frozen_lap = -1  # lap index in which a service happened (rest of that lap holds)
    starts = [lap.start_et for lap in laps]
    for et, order, idx, left in events:
        if order == 0:
            cur = services[idx][1](cur)
            frozen_lap = bisect.bisect_right(starts, et) - 1
        elif idx == frozen_lap:
            continue
        else:
            target = line_value(laps[idx])
            cur = (
                target
                if left == 1
                else tuple(c + (t - c) / left for c, t in zip(cur, target, strict=True))
            )
        ets.append(et)
        values.append(cur)
    return Steps(ets, values)


def lap_stepped(
    laps: Sequence[Lap],
    start: T,
    lap_value: Callable[[Lap], T],
    services: Sequence[tuple[float, T]],
) -> Steps[T]:
    """Values set at each lap start, replaced at services (compounds).

    A lap inside which a service happens does not switch at its start: the service switches it.
    """
    service_ets = sorted(et for et, _ in services)
    events: list[tuple[float, int, T]] = []
    for lap in laps:
        k = bisect.bisect_left(service_ets, lap.start_et)
        if k < len(service_ets) and service_ets[k] < lap.end_et:
            continue
        events.append((lap.start_et, 0, lap_value(lap)))
    events.extend((et, 1, value) for et, value in services)
    events.sort(key=lambda e: (e[0], e[1]))
    return Steps([float("-inf"), *(e[0] for e in events)], [start, *(e[2] for e in events)])
