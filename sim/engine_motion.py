"""Where a car is along its lap: distance and speed from time, and world coordinates.

Within a lap the car moves linearly through each sector (sector ends map to the track's
`sector_ends`). A lap with a pit stop gets extra knots: the car stands at its box between stop
and release and moves faster in the rest of that stretch, so every sector still takes its true
time. World positions come from `sim.tracks` when it is available, else from a circle of the
track's length (a fallback so the engine stands on its own).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

from sim.script import Lap, PitVisit, Track

try:  # the track geometry module is written separately; fall back to a circle without it
    from sim.tracks import pit_point_at, point_at
except ImportError:  # pragma: no cover - depends on the tree

    def point_at(track: Track, fraction: float) -> tuple[float, float, float, float, float]:
        """A circle whose circumference is the track length (fallback geometry)."""
        radius = track.length / (2 * math.pi)
        angle = 2 * math.pi * (fraction % 1.0)
        return (
            radius * math.cos(angle),
            0.0,
            radius * math.sin(angle),
            -math.sin(angle),
            math.cos(angle),
        )

    def pit_point_at(track: Track, fraction: float) -> tuple[float, float, float, float, float]:
        """The pit lane as an inner circle 15 m inside the track (fallback geometry)."""
        radius = track.length / (2 * math.pi) - 15.0
        angle = 2 * math.pi * (fraction % 1.0)
        return (
            radius * math.cos(angle),
            0.0,
            radius * math.sin(angle),
            -math.sin(angle),
            math.cos(angle),
        )


Knots = tuple[list[float], list[float]]  # (ETs, distances), both ascending


def sector_knots(lap: Lap, track: Track) -> Knots:
    length = track.length
    s1 = lap.start_et + lap.sectors[0]
    s2 = s1 + lap.sectors[1]
    return (
        [lap.start_et, s1, s2, lap.end_et],
        [0.0, track.sector_ends[0] * length, track.sector_ends[1] * length, length],
    )


def stop_knots(laps: Sequence[Lap], pits: Sequence[PitVisit], track: Track) -> dict[int, Knots]:
    """Knots of the laps that contain a stop in the box, by lap index."""
    starts = [lap.start_et for lap in laps]
    box = (track.pit_box % 1.0) * track.length
    out: dict[int, Knots] = {}
    for visit in pits:
        if visit.stop_et is None or visit.release_et is None:
            continue
        j = bisect.bisect_right(starts, visit.stop_et) - 1
        if j < 0 or visit.stop_et >= laps[j].end_et:
            continue
        ts, ds = out.get(j) or sector_knots(laps[j], track)
        stop, release = visit.stop_et, min(visit.release_et, laps[j].end_et)
        before = [(t, d) for t, d in zip(ts, ds, strict=True) if t < stop and d <= box]
        after = [(t, d) for t, d in zip(ts, ds, strict=True) if t > release and d >= box]
        merged = [*before, (stop, box), (release, box), *after]
        out[j] = ([m[0] for m in merged], [m[1] for m in merged])
    return out


def lap_position(lap: Lap, knots: Knots | None, et: float, track: Track) -> tuple[float, float]:
    """(metres along the lap, speed m/s) at `et` during `lap`."""
    if knots is None:
        t = et - lap.start_et
        length = track.length
        a, b = lap.sectors[0], lap.sectors[0] + lap.sectors[1]
        e1, e2 = track.sector_ends[0] * length, track.sector_ends[1] * length
        if t < a:
            speed = e1 / lap.sectors[0]
            return t * speed, speed
        if t < b:
            speed = (e2 - e1) / lap.sectors[1]
            return e1 + (t - a) * speed, speed
        speed = (length - e2) / lap.sectors[2]
        return min(length, e2 + (t - b) * speed), speed
    ts, ds = knots
    i = bisect.bisect_right(ts, et) - 1
    i = max(0, min(i, len(ts) - 2))
    span = ts[i + 1] - ts[i]
    if span <= 0:
        return ds[i + 1], 0.0
    speed = (ds[i + 1] - ds[i]) / span
    return ds[i] + (et - ts[i]) * speed, speed


def world(
    track: Track, distance: float, speed: float, in_pit_lane: bool
) -> tuple[float, float, float, float, float, float]:
    """(x, y, z, vx, vy, vz) of a car `distance` metres along the lap."""
    fraction = distance / track.length if track.length > 0 else 0.0
    x, y, z, hx, hz = (pit_point_at if in_pit_lane else point_at)(track, fraction)
    return x, y, z, hx * speed, 0.0, hz * speed
