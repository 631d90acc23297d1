"""Circuits for the simulator: a catalogue of the game's tracks, procedural maps, map lookups.

Nobody ships the game's track maps with the project, so a circuit is drawn procedurally from its
name and length: a closed, non-crossing loop with a main straight, the start/finish line on it,
a pit lane beside it and grid and pit-box markers, shaped like `/rest/watch/trackmap`. Real maps
(the same JSON shape) can be loaded too. `point_at` and `pit_point_at` turn a lap fraction into a
world position; the engine calls them for every car on every evaluation, so they are O(log n) on
a geometry computed once per track.
"""

from __future__ import annotations

import bisect
import itertools
import json
import logging
import math
import random
from dataclasses import dataclass
from pathlib import Path

from sim.script import Track, TrackPoint

log = logging.getLogger(__name__)

# Track names as sessionInfo `trackName` reports them, with `lapDistance` in metres.
TRACK_CATALOGUE: dict[str, float] = {
    "Sebring School Circuit": 3083.31,
    "Autodromo Nazionale Monza": 5780.64,
    "Algarve International Circuit": 4635.32,
    "Sebring International Raceway": 5820.33,
    "Circuit de la Sarthe": 13626.0,
    "Circuit de Spa-Francorchamps": 7004.0,
    "Fuji Speedway": 4563.0,
    "Bahrain International Circuit": 5412.0,
    "Lusail International Circuit": 5380.0,
    "Autodromo Enzo e Dino Ferrari": 4909.0,
    "Circuit of the Americas": 5513.0,
    "Autódromo José Carlos Pace": 4309.0,
    "Daytona International Speedway Road Course": 5733.8,
}

POINT_SPACING = 5.0  # metres between map points, as in the game's maps
GRID_SLOTS = 40  # grid-box marker types 2 .. 41
PIT_BOXES = 38  # pit-box marker types 106 .. 143
FIRST_GRID_TYPE = 2
FIRST_BOX_TYPE = 106
PIT_LANE_OFFSET = 14.0  # metres beside the racing line when no pit-lane points fit


@dataclass(frozen=True)
class _Line:
    """A polyline with cumulative arc lengths, for bisect lookups by distance."""

    xs: tuple[float, ...]
    ys: tuple[float, ...]
    zs: tuple[float, ...]
    cum: tuple[float, ...]  # cum[i] = distance from point 0 to point i (closed: one extra)
    total: float
    closed: bool


@dataclass(frozen=True)
class _Geometry:
    racing: _Line
    pit: _Line | None
    pit_fracs: tuple[float, ...]  # unwrapped lap fraction of each pit-lane point (increasing)
    cells: dict[tuple[int, int], list[int]]  # spatial hash of racing-line points


_CELL = 40.0
_cache: dict[int, tuple[list[TrackPoint], int, _Geometry]] = {}


def _make_line(pts: list[TrackPoint], closed: bool) -> _Line:
    xs = tuple(p.x for p in pts)
    ys = tuple(p.y for p in pts)
    zs = tuple(p.z for p in pts)
    cum = [0.0]
    n = len(pts)
    last = n if closed else n - 1
    for i in range(last):
        j = (i + 1) % n
        cum.append(cum[-1] + math.hypot(xs[j] - xs[i], zs[j] - zs[i]))
    return _Line(xs, ys, zs, tuple(cum), cum[-1], closed)


def _geometry(track: Track) -> _Geometry:
    """The track's lookup structures, built on first use and cached while `points` is unchanged."""
    key = id(track)
    hit = _cache.get(key)
    if hit is not None and hit[0] is track.points and hit[1] == len(track.points):
        return hit[2]
    racing_pts = [p for p in track.points if p.type == 0]
    if len(racing_pts) < 3:
        raise ValueError(f"track {track.name!r} has no racing line (type-0 points)")
    racing = _make_line(racing_pts, closed=True)
    cells: dict[tuple[int, int], list[int]] = {}
    for i, (x, z) in enumerate(zip(racing.xs, racing.zs, strict=True)):
        cells.setdefault((math.floor(x / _CELL), math.floor(z / _CELL)), []).append(i)
    geo = _Geometry(racing, None, (), cells)
    pit_pts = [p for p in track.points if p.type == 1]
    if len(pit_pts) >= 2:
        fracs = [_project(geo, p.x, p.z)[0] for p in pit_pts]
        if _direction(fracs) < 0:
            pit_pts.reverse()
            fracs.reverse()
        unwrapped = [fracs[0]]
        for f in fracs[1:]:
            step = (f - unwrapped[-1] + 0.5) % 1.0 - 0.5
            unwrapped.append(unwrapped[-1] + max(step, 0.0))
        geo = _Geometry(racing, _make_line(pit_pts, closed=False), tuple(unwrapped), cells)
    if len(_cache) > 64:
        _cache.clear()
    _cache[key] = (track.points, len(track.points), geo)
    return geo


def _direction(fracs: list[float]) -> float:
    return sum((b - a + 0.5) % 1.0 - 0.5 for a, b in itertools.pairwise(fracs))


def _project(geo: _Geometry, x: float, z: float) -> tuple[float, float]:
    """(lap fraction, distance) of the racing-line point nearest to (x, z)."""
    line = geo.racing
    cx, cz = math.floor(x / _CELL), math.floor(z / _CELL)
    best_i, best_d = -1, math.inf
    ring = 0
    while True:
        for gx in range(cx - ring, cx + ring + 1):
            for gz in range(cz - ring, cz + ring + 1):
                if max(abs(gx - cx), abs(gz - cz)) != ring:
                    continue
                for i in geo.cells.get((gx, gz), ()):
                    d = math.hypot(line.xs[i] - x, line.zs[i] - z)
                    if d < best_d:
                        best_i, best_d = i, d
        # Every point in a cell of ring r+1 is at least r * CELL away.
        if best_i >= 0 and best_d <= ring * _CELL:
            break
        ring += 1
        if ring > 400:
            break
    return line.cum[best_i] / line.total, best_d


def _interpolate(line: _Line, dist: float) -> tuple[float, float, float, float, float]:
    n = len(line.xs)
    i = bisect.bisect_right(line.cum, dist) - 1
    i = min(max(i, 0), len(line.cum) - 2)
    j = (i + 1) % n
    seg = line.cum[i + 1] - line.cum[i]
    t = (dist - line.cum[i]) / seg if seg > 0 else 0.0
    dx, dz = line.xs[j] - line.xs[i], line.zs[j] - line.zs[i]
    norm = math.hypot(dx, dz) or 1.0
    return (
        line.xs[i] + dx * t,
        line.ys[i] + (line.ys[j] - line.ys[i]) * t,
        line.zs[i] + dz * t,
        dx / norm,
        dz / norm,
    )


def point_at(track: Track, fraction: float) -> tuple[float, float, float, float, float]:
    """(x, y, z, heading_x, heading_z) on the racing line at a lap fraction (wraps at 1.0)."""
    line = _geometry(track).racing
    return _interpolate(line, (fraction % 1.0) * line.total)


def pit_point_at(track: Track, fraction: float) -> tuple[float, float, float, float, float]:
    """Position of a car in the pit lane at a lap fraction (entry .. line .. exit).

    Uses the map's type-1 points where they cover the fraction, else a point beside the racing
    line on the outside.
    """
    geo = _geometry(track)
    if geo.pit is not None and geo.pit_fracs:
        lo, hi = geo.pit_fracs[0], geo.pit_fracs[-1]
        f = fraction % 1.0
        if f < lo:
            f += 1.0
        if lo <= f <= hi and hi > lo:
            k = bisect.bisect_right(geo.pit_fracs, f) - 1
            k = min(max(k, 0), len(geo.pit_fracs) - 2)
            f0, f1 = geo.pit_fracs[k], geo.pit_fracs[k + 1]
            t = (f - f0) / (f1 - f0) if f1 > f0 else 0.0
            dist = geo.pit.cum[k] + (geo.pit.cum[k + 1] - geo.pit.cum[k]) * t
            return _interpolate(geo.pit, dist)
    x, y, z, hx, hz = point_at(track, fraction)
    return x + hz * PIT_LANE_OFFSET, y, z - hx * PIT_LANE_OFFSET, hx, hz


def racing_line_length(track: Track) -> float:
    """Perimeter of the type-0 polyline (x/z plane), close to `track.length`."""
    return _geometry(track).racing.total


def pit_box_fractions(track: Track) -> list[float]:
    """Lap fraction of every pit box (marker types >= 106), in type order.

    Fractions near the line are given relative to the in-lap: past the line they exceed 1.0,
    like `Track.pit_box`.
    """
    geo = _geometry(track)
    by_type: dict[int, list[TrackPoint]] = {}
    for p in track.points:
        if p.type >= FIRST_BOX_TYPE:
            by_type.setdefault(p.type, []).append(p)
    fracs = []
    for kind in sorted(by_type):
        pair = by_type[kind]
        x = sum(p.x for p in pair) / len(pair)
        z = sum(p.z for p in pair) / len(pair)
        f = _project(geo, x, z)[0]
        fracs.append(_relative_to_line(f, track.pit_entry))
    return fracs


def _relative_to_line(f: float, pit_entry: float) -> float:
    """A fraction expressed in the in-lap when the pit lane wraps over the line."""
    return f + 1.0 if f < pit_entry and f < 0.5 and pit_entry > 0.5 else f


# --- procedural circuits -------------------------------------------------------------------


def _shape(rng: random.Random) -> tuple[list[float], list[float], int, int]:
    """A star-shaped loop (never crosses itself) clipped by a straight line: the main straight.

    Returns dense x/z samples going counter-clockwise and the index range of the straight.
    """
    harmonics = [(k, rng.uniform(0.0, 0.22 / k), rng.uniform(0, 2 * math.pi)) for k in range(2, 7)]
    samples = 3600
    thetas = [-math.pi + 2 * math.pi * i / samples for i in range(samples)]
    radii = [1.0 + sum(a * math.cos(k * t + ph) for k, a, ph in harmonics) for t in thetas]
    low = min(radii)
    if low < 0.45:  # keep the loop round enough: shrink the wiggles
        radii = [1.0 + (r - 1.0) * (0.55 / (1.0 - low)) for r in radii]
    mid = samples // 2  # theta = 0: the straight is the line x = d, crossed by +x
    d = radii[mid] * rng.uniform(0.72, 0.86)
    xs, zs, on_line = [], [], []
    for t, r in zip(thetas, radii, strict=True):
        c = math.cos(t)
        line_r = d / c if c > 1e-6 else math.inf
        rr = min(r, line_r)
        on_line.append(line_r <= r)
        xs.append(rr * math.cos(t))
        zs.append(rr * math.sin(t))
    lo = hi = mid
    while lo > 0 and on_line[lo - 1]:
        lo -= 1
    while hi < samples - 1 and on_line[hi + 1]:
        hi += 1
    return xs, zs, lo, hi


def _resample(
    xs: list[float], zs: list[float], start: int, count: int
) -> list[tuple[float, float]]:
    """`count` points equally spaced by arc length round the closed loop, from index `start`."""
    n = len(xs)
    order = [(start + i) % n for i in range(n)] + [start]
    cum = [0.0]
    for a, b in itertools.pairwise(order):
        cum.append(cum[-1] + math.hypot(xs[b] - xs[a], zs[b] - zs[a]))
    total = cum[-1]
    out = []
    k = 0
    for i in range(count):
        target = total * i / count
        while cum[k + 1] < target:
            k += 1
        a, b = order[k], order[k + 1]
        seg = cum[k + 1] - cum[k]
        t = (target - cum[k]) / seg if seg > 0 else 0.0
        out.append((xs[a] + (xs[b] - xs[a]) * t, zs[a] + (zs[b] - zs[a]) * t))
    return out


def _perimeter(pts: list[tuple[float, float]]) -> float:
    return sum(math.dist(pts[i], pts[(i + 1) % len(pts)]) for i in range(len(pts)))


def _smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3 - 2 * x)


def procedural_track(name: str, length: float, seed: int = 0) -> Track:
    """A believable circuit of `length` metres, the same for the same (name, length, seed)."""
    rng = random.Random(f"track|{name}|{length:.3f}|{seed}")
    xs, zs, lo, hi = _shape(rng)
    sf_index = lo + int((hi - lo) * rng.uniform(0.5, 0.7))
    count = max(16, round(length / POINT_SPACING))
    line = _resample(xs, zs, sf_index, count)
    for _ in range(3):  # corner chords shorten the loop a little: rescale until it fits
        scale = length / _perimeter(line)
        line = [(x * scale, z * scale) for x, z in line]
    # Where the straight starts and ends, in metres from the line.
    dense_len = [math.hypot(xs[i + 1] - xs[i], zs[i + 1] - zs[i]) for i in range(len(xs) - 1)]
    dense_total = sum(dense_len) + math.hypot(xs[0] - xs[-1], zs[0] - zs[-1])
    before = sum(dense_len[lo:sf_index]) / dense_total * length
    after = sum(dense_len[sf_index:hi]) / dense_total * length
    amp1, amp2 = rng.uniform(0.5, 6.0), rng.uniform(0.0, 2.5)
    ph1, ph2 = rng.uniform(0, 2 * math.pi), rng.uniform(0, 2 * math.pi)

    def elevation(s: float) -> float:
        u = 2 * math.pi * s / length
        return amp1 * math.sin(u + ph1) + amp2 * math.sin(2 * u + ph2) - amp1 * math.sin(ph1)

    spacing = length / count
    points = [TrackPoint(x, elevation(i * spacing), z, 0) for i, (x, z) in enumerate(line, start=0)]
    e1 = rng.uniform(0.28, 0.38)
    e2 = rng.uniform(0.60, 0.70)
    entry_m = min(max(before + rng.uniform(20, 80), 120.0), 400.0, (1 - e2 - 0.04) * length)
    exit_m = min(max(after + rng.uniform(20, 80), 100.0), 400.0, (e1 - 0.04) * length)
    pit_entry = 1.0 - entry_m / length
    pit_exit = exit_m / length
    lane_width = rng.uniform(12.0, 18.0)
    probe = Track(name, length, points)

    def beside(s: float, offset: float, y_lift: float = 0.0) -> tuple[float, float, float]:
        x, y, z, hx, hz = point_at(probe, s / length)
        return x + hz * offset, y + y_lift, z - hx * offset

    ramp = min(60.0, entry_m / 3, exit_m / 3)
    lane_len = entry_m + exit_m
    steps = max(2, round(lane_len / POINT_SPACING))
    pit_points = []
    for i in range(steps + 1):
        s = -entry_m + lane_len * i / steps
        w = lane_width * min(_smoothstep((s + entry_m) / ramp), _smoothstep((exit_m - s) / ramp))
        x, y, z = beside(s % length, w)
        pit_points.append(TrackPoint(x, y, z, 1))
    # Pit boxes along the flat middle of the lane, centred a little before or after the line.
    flat = lane_len - 2 * ramp
    box_gap = min(12.0, flat / PIT_BOXES)
    centre = rng.choice((-1.0, 1.0)) * rng.uniform(15.0, 0.25 * min(entry_m, exit_m))
    first = max(-entry_m + ramp, centre - box_gap * (PIT_BOXES - 1) / 2)
    first = min(first, exit_m - ramp - box_gap * (PIT_BOXES - 1))
    box_points = []
    for k in range(PIT_BOXES):
        s = first + box_gap * k
        for off in (lane_width + 3.0, lane_width + 7.0):
            x, y, z = beside(s % length, off)
            box_points.append(TrackPoint(x, y, z, FIRST_BOX_TYPE + k))
    pit_box = 1.0 + (first + box_gap * (PIT_BOXES - 1) / 2) / length
    grid_points = []
    for k in range(GRID_SLOTS):
        s = -(12.0 + 8.0 * k)
        side = -3.0 if k % 2 == 0 else 3.0
        for off in (side - 1.4, side + 1.4):
            x, y, z = beside(s % length, off)
            grid_points.append(TrackPoint(x, y, z, FIRST_GRID_TYPE + k))
    track = Track(
        name=name,
        length=length,
        points=points + pit_points + grid_points + box_points,
        sector_ends=(round(e1, 4), round(e2, 4)),
        pit_entry=pit_entry,
        pit_exit=pit_exit,
        pit_box=pit_box,
    )
    log.debug(
        "procedural track %s: %d points, pit %.3f..%.3f",
        name,
        len(track.points),
        pit_entry,
        pit_exit,
    )
    return track


def catalogue_track(name: str | None, rng: random.Random) -> Track:
    """A procedural circuit for a catalogue name (random when None; unknown names get 5 km)."""
    if name is None:
        name = rng.choice(sorted(TRACK_CATALOGUE))
    length = TRACK_CATALOGUE.get(name, 5000.0)
    return procedural_track(name, length, seed=rng.randrange(1 << 30))


# --- real maps -----------------------------------------------------------------------------


def load_track_map(path: str | Path) -> list[TrackPoint]:
    """Read a `/rest/watch/trackmap` answer (JSON array of {type, x, y, z})."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(raw, list):
        raise ValueError(f"{path}: a track map is a JSON array")
    return [TrackPoint(float(p["x"]), float(p["y"]), float(p["z"]), int(p["type"])) for p in raw]


def track_from_map(name: str, length: float, points: list[TrackPoint]) -> Track:
    """A Track for a real map: pit entry/exit where the pit lane leaves and rejoins the line.

    Maps carry no sector boundaries, so sectors are split in thirds.
    """
    track = Track(name=name, length=length, points=list(points), sector_ends=(1 / 3, 2 / 3))
    geo = _geometry(track)
    pit = geo.pit
    if pit is None:
        return track
    near = []
    for i in range(len(pit.xs)):
        frac, dist = _project(geo, pit.xs[i], pit.zs[i])
        near.append((frac, dist))
    threshold = max(8.0, min(d for _, d in near) + 2.0)
    close = [f for f, d in near if d <= threshold]
    track.pit_entry = close[0]
    track.pit_exit = close[-1]
    boxes = pit_box_fractions(track)
    if boxes:
        angle = math.atan2(
            sum(math.sin(2 * math.pi * f) for f in boxes),
            sum(math.cos(2 * math.pi * f) for f in boxes),
        )
        track.pit_box = _relative_to_line((angle / (2 * math.pi)) % 1.0, track.pit_entry)
    return track
