"""Track map geometry: the game's map points -> SVG paths in a fixed viewBox, and car positions.

`/rest/watch/trackmap` is a list of `{x, y, z, type}` points (y is up): type 0 is the racing line
in driving order starting at the start/finish line (~5 m apart, its length is about the lap
distance), type 1 the pit lane (entry, lane and exit; some tracks have it in pieces), 2+ grid
slots and pit boxes (not drawn). The map is seen from above: world x -> map x and world z -> map
y flipped (so the circuit is not mirrored), scaled to fit a square viewBox with a margin. Car
world positions go through the same projection. Pure functions; nothing here does I/O.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

SIZE = 1000.0  # the viewBox is "0 0 SIZE SIZE"
MARGIN = 40.0
VIEWBOX = f"0 0 {SIZE:g} {SIZE:g}"
PIT_GAP = 10.0  # metres between consecutive pit points that start a new pit polyline
MAX_EXTRAPOLATION = 1.0  # seconds a position may be carried forward by its velocity
TRACK = 0
PIT = 1

Point = tuple[float, float]  # world (x, z)


@dataclass(frozen=True)
class Projection:
    """World (x, z) -> viewBox (x, y): y flipped, uniform scale, centred."""

    min_x: float
    max_z: float
    scale: float
    pad_x: float
    pad_y: float

    def __call__(self, x: float, z: float) -> Point:
        return (
            round(self.pad_x + (x - self.min_x) * self.scale, 1),
            round(self.pad_y + (self.max_z - z) * self.scale, 1),
        )


@dataclass(frozen=True)
class Geometry:
    """A parsed map: the racing line (closed loop), pit polylines, and the projection."""

    track: list[Point]
    pits: list[list[Point]]
    projection: Projection
    cumulative: list[float]  # distance along the racing line at each track point

    @property
    def length(self) -> float:
        """The racing line's perimeter (closing segment included)."""
        if len(self.track) < 2:
            return 0.0
        return self.cumulative[-1] + math.dist(self.track[-1], self.track[0])


def _number(value: object) -> float | None:
    if type(value) in (int, float) and math.isfinite(value):  # type: ignore[arg-type]
        return float(value)  # type: ignore[arg-type]
    return None


def split_points(points: object) -> tuple[list[Point], list[list[Point]]]:
    """(racing line, pit polylines) from map points; malformed points are skipped.

    The pit lane is split wherever two consecutive pit points are more than PIT_GAP apart
    (tracks whose pit points are not one contiguous path)."""
    track: list[Point] = []
    pits: list[list[Point]] = []
    if not isinstance(points, list):
        return track, pits
    previous: Point | None = None
    for raw in points:
        if not isinstance(raw, dict):
            continue
        x, z, kind = _number(raw.get("x")), _number(raw.get("z")), raw.get("type")
        if x is None or z is None:
            continue
        if kind == TRACK:
            track.append((x, z))
        elif kind == PIT:
            if previous is None or not pits or math.dist(previous, (x, z)) > PIT_GAP:
                pits.append([])
            pits[-1].append((x, z))
            previous = (x, z)
    return track, [p for p in pits if len(p) >= 2]


def fit(points: list[Point], size: float = SIZE, margin: float = MARGIN) -> Projection:
    """The projection that fits `points` into the square viewBox, keeping the aspect ratio."""
    if not points:
        return Projection(0.0, 0.0, 1.0, margin, margin)
    xs = [p[0] for p in points]
    zs = [p[1] for p in points]
    width, height = max(xs) - min(xs), max(zs) - min(zs)
    inner = size - 2 * margin
    scale = inner / max(width, height, 1e-6)
    return Projection(
        min_x=min(xs),
        max_z=max(zs),
        scale=scale,
        pad_x=margin + (inner - width * scale) / 2,
        pad_y=margin + (inner - height * scale) / 2,
    )


def geometry(points: object) -> Geometry | None:
    """The parsed map, or None when it has no usable racing line (fewer than 3 points)."""
    track, pits = split_points(points)
    if len(track) < 3:
        return None
    projection = fit(track + [p for pit in pits for p in pit])
    cumulative = [0.0]
    for a, b in itertools.pairwise(track):
        cumulative.append(cumulative[-1] + math.dist(a, b))
    return Geometry(track, pits, projection, cumulative)


def path_d(points: list[Point], projection: Projection, closed: bool) -> str:
    """An SVG path `d` through `points` (world) in viewBox coordinates."""
    if not points:
        return ""
    coords = [projection(x, z) for x, z in points]
    head = f"M{coords[0][0]:g} {coords[0][1]:g}"
    body = "".join(f"L{x:g} {y:g}" for x, y in coords[1:])
    return head + body + ("Z" if closed else "")


def point_at(geo: Geometry, fraction: float) -> tuple[Point, Point]:
    """World position and unit heading at `fraction` (0..1) of the lap along the racing line."""
    total = geo.length
    target = (fraction % 1.0) * total
    track, cum = geo.track, geo.cumulative
    lo, hi = 0, len(cum) - 1
    while lo < hi:  # the last index whose cumulative distance is <= target
        mid = (lo + hi + 1) // 2
        if cum[mid] <= target:
            lo = mid
        else:
            hi = mid - 1
    a = track[lo]
    b = track[(lo + 1) % len(track)]
    seg = math.dist(a, b)
    t = (target - cum[lo]) / seg if seg > 0 else 0.0
    t = min(max(t, 0.0), 1.0)
    pos = (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)
    heading = ((b[0] - a[0]) / seg, (b[1] - a[1]) / seg) if seg > 0 else (1.0, 0.0)
    return pos, heading


def line_across(geo: Geometry, fraction: float, half_width: float = 18.0) -> dict[str, float]:
    """A short line (viewBox units) across the track at `fraction` of the lap: x1, y1, x2, y2."""
    (x, z), (hx, hz) = point_at(geo, fraction)
    x1, y1 = geo.projection(x, z)
    # the heading in viewBox space: z is flipped, so dy = -hz
    nx, ny = hz, hx  # perpendicular to (hx, -hz)
    return {
        "x1": round(x1 - nx * half_width, 1),
        "y1": round(y1 - ny * half_width, 1),
        "x2": round(x1 + nx * half_width, 1),
        "y2": round(y1 + ny * half_width, 1),
    }


def arrow(geo: Geometry, fraction: float, size: float = 16.0) -> str:
    """An SVG path `d` of a chevron on the track at `fraction`, pointing the way cars drive."""
    (x, z), (hx, hz) = point_at(geo, fraction)
    cx, cy = geo.projection(x, z)
    dx, dy = hx, -hz  # the heading in viewBox space (z is flipped)
    nx, ny = -dy, dx
    tip = (cx + dx * size, cy + dy * size)
    left = (cx - dx * size * 0.3 + nx * size * 0.8, cy - dy * size * 0.3 + ny * size * 0.8)
    right = (cx - dx * size * 0.3 - nx * size * 0.8, cy - dy * size * 0.3 - ny * size * 0.8)
    pts = [left, tip, right]
    return "M" + "L".join(f"{px:.1f} {py:.1f}" for px, py in pts)


def extrapolate(position: Point, velocity: Point, dt: float) -> Point:
    """Where a car at `position` moving at `velocity` (m/s) is `dt` s later (dt in 0..1 s)."""
    dt = min(max(dt, 0.0), MAX_EXTRAPOLATION)
    return (position[0] + velocity[0] * dt, position[1] + velocity[1] * dt)


def on_circle(fraction: float, size: float = SIZE, margin: float = MARGIN) -> Point:
    """A position on a circle filling the viewBox: the fallback map without track points.

    The start/finish line is at the top; cars go clockwise."""
    radius = size / 2 - margin
    angle = 2 * math.pi * (fraction % 1.0)
    return (
        round(size / 2 + radius * math.sin(angle), 1),
        round(size / 2 - radius * math.cos(angle), 1),
    )


def circle_d(size: float = SIZE, margin: float = MARGIN) -> str:
    """The fallback circuit: a circle path through `on_circle` positions."""
    r = size / 2 - margin
    c = size / 2
    return f"M{c:g} {c - r:g}A{r:g} {r:g} 0 1 1 {c:g} {c + r:g}A{r:g} {r:g} 0 1 1 {c:g} {c - r:g}Z"


def world_xz(value: Any) -> Point | None:
    """(x, z) of a `{x, y, z}` dict the game sends (carPosition, carVelocity), or None."""
    if not isinstance(value, dict):
        return None
    x, z = _number(value.get("x")), _number(value.get("z"))
    if x is None or z is None:
        return None
    return (x, z)
