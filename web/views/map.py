"""Track map view: the circuit from the game's map points, and every car as a class-coloured dot.

Two live parts: `map-track` (the circuit, pit lane, start line, sector marks; changes rarely, so
its HTML is the same from one render to the next and is not resent) and `map-cars` (the dots).
The hub renders this view at 2 Hz with `now` advancing between feeds, so each car is carried
forward by its velocity for dt = min(now - fed_at, 1 s): the dots move smoothly although the
clients feed about once a second. Without map points (no state yet, or a game that did not send
them) the cars go round a circle by their lap distance.

Sector boundaries are not in the map. They are estimated from the cars: a car that crossed into
sector 2 `s` seconds ago (time into the lap minus its S1 split) at speed v crossed the boundary
v * s metres back; the car with the smallest `s` gives the estimate.
"""

from __future__ import annotations

import math
from typing import Any

from web import trackmap
from web.views.carinfo import class_id, class_rank, identity, number, state_cars, status_code
from web.views.model import SessionInput

TEMPLATE = "map.html"
_FRESH_CROSSING = 90.0  # s: an older sector crossing is too far back to extrapolate from
SECTOR_INDEX = {"SECTOR1": 0, "SECTOR2": 1, "SECTOR3": 2}
_cache: dict[int, tuple[object, trackmap.Geometry | None]] = {}


def _geometry(points: object) -> trackmap.Geometry | None:
    """The parsed map, cached by the points list (the state keeps the same list between feeds)."""
    if not isinstance(points, list):
        return None
    hit = _cache.get(id(points))
    if hit is not None and hit[0] is points:
        return hit[1]
    geo = trackmap.geometry(points)
    if len(_cache) > 16:
        _cache.clear()
    _cache[id(points)] = (points, geo)  # the reference keeps the id from being reused
    return geo


def _session_number(state: dict[str, Any] | None, name: str) -> float | None:
    session = state.get("session") if isinstance(state, dict) else None
    return number(session.get(name)) if isinstance(session, dict) else None


def sector_starts(cars: dict[str, dict[str, Any]], et: float | None) -> list[float | None]:
    """Estimated lap distance (m) where sectors 2 and 3 start, None where no car tells.

    The estimate from the latest crossing is kept between the positions of the cars seen on
    either side of the boundary (a car in sector 1 is before it, one in sector 2 past it)."""
    out: list[float | None] = [None, None]
    if et is None:
        return out
    best = [math.inf, math.inf]
    low, high = [0.0, 0.0], [math.inf, math.inf]
    for row in cars.values():
        sector = row.get("sector")
        index = SECTOR_INDEX.get(sector if isinstance(sector, str) else "")
        start, dist = number(row.get("lapStartET")), number(row.get("lapDistance"))
        if index is None or dist is None or dist < 0 or row.get("pitting") is True:
            continue
        if index < 2:
            low[index] = max(low[index], dist)  # before the next sector starts
        if index > 0:
            high[index - 1] = min(high[index - 1], dist)  # past the start of its own sector
        if index == 0:
            continue
        split = number(row.get("currentSectorTime1" if index == 1 else "currentSectorTime2"))
        speed = number((row.get("carVelocity") or {}).get("velocity"))
        if start is None or split is None or speed is None or split <= 0 or speed < 5:
            continue
        since = (et - start) - split
        if 0 <= since < min(best[index - 1], _FRESH_CROSSING):
            best[index - 1] = since
            out[index - 1] = max(0.0, dist - speed * since)
    for i, value in enumerate(out):
        if value is not None and low[i] <= high[i]:
            out[i] = round(min(max(value, low[i]), high[i]), 1)
    return out


def _track_part(geo: trackmap.Geometry | None) -> dict[str, Any]:
    """The static circuit (the same HTML every render, so the hub never resends it)."""
    if geo is None:
        return {
            "has_map": False,
            "path": trackmap.circle_d(),
            "pits": [],
            "start": {"x1": 500.0, "y1": 22.0, "x2": 500.0, "y2": 58.0},
            "direction": "M530 28L548 40L530 52",
        }
    return {
        "has_map": True,
        "path": trackmap.path_d(geo.track, geo.projection, closed=True),
        "pits": [trackmap.path_d(p, geo.projection, closed=False) for p in geo.pits],
        "start": trackmap.line_across(geo, 0.0, 22.0),
        "direction": trackmap.arrow(geo, 0.02),
    }


def _sector_marks(
    geo: trackmap.Geometry | None, starts: list[float | None], length: float | None
) -> list[dict[str, Any]]:
    """Lines across the track where sectors 2 and 3 start (drawn with the cars: estimates
    move a little and may be missing for a moment, and the cars layer is resent anyway)."""
    marks: list[dict[str, Any]] = []
    if geo is None or not length:
        return marks
    for sector, start in zip((2, 3), starts, strict=True):
        if start is not None:
            marks.append({"sector": sector, **trackmap.line_across(geo, start / length, 14.0)})
    return marks


def _dot(
    key: str,
    row: dict[str, Any],
    record: Any,
    geo: trackmap.Geometry | None,
    length: float | None,
    dt: float,
) -> dict[str, Any] | None:
    ident = identity(key, row, record)
    status = status_code(row, record)
    xy: tuple[float, float] | None = None
    position = trackmap.world_xz(row.get("carPosition"))
    velocity = trackmap.world_xz(row.get("carVelocity")) or (0.0, 0.0)
    distance = number(row.get("lapDistance"))
    if geo is not None and position is not None:
        xy = geo.projection(*trackmap.extrapolate(position, velocity, dt))
    elif distance is not None and length:
        speed = number((row.get("carVelocity") or {}).get("velocity")) or 0.0
        fraction = (distance + speed * min(max(dt, 0.0), 1.0)) / length
        if geo is not None:
            (x, z), _ = trackmap.point_at(geo, fraction)
            xy = geo.projection(x, z)
        else:
            xy = trackmap.on_circle(fraction)
    if xy is None:
        return None
    pos = row.get("position")
    return {
        **ident,
        "x": xy[0],
        "y": xy[1],
        "position": pos if type(pos) is int else None,
        "status": status,
        "in_pit": status in ("In", "Pit", "Out", "Gar") or row.get("pitting") is True,
        "retired": status in ("DNF", "DQ"),
    }


def build(inp: SessionInput, car: str | None = None) -> dict[str, Any]:
    """The map view model; `car` marks the car the viewer follows."""
    state = inp.state
    tracker = inp.tracker
    records = tracker.cars if tracker is not None else {}
    cars = state_cars(state)
    geo = _geometry(state.get("trackmap")) if isinstance(state, dict) else None
    length = _session_number(state, "lapDistance") or (
        tracker.track_length if tracker is not None else None
    )
    et = inp.state_et if inp.state_et is not None else _session_number(state, "currentEventTime")
    dt = 0.0
    if inp.fed_at is not None and inp.live:
        dt = round(min(max(inp.now - inp.fed_at, 0.0), trackmap.MAX_EXTRAPOLATION), 2)
    dots = []
    rows = cars or _estimated_rows(tracker, length)
    for key, row in rows.items():
        dot = _dot(key, row, records.get(key), geo, length, dt)
        if dot is not None:
            dot["selected"] = key == car
            dots.append(dot)
    # the leader is drawn last (on top); the followed car above everyone
    dots.sort(key=lambda d: (d["selected"], -(d["position"] or 10_000)))
    classes = sorted({d["car_class"] for d in dots}, key=class_rank)
    selected = next((d for d in dots if d["selected"]), None)
    info = None
    if selected is not None:
        row = rows[selected["key"]]
        info = {
            **selected,
            "laps": row.get("lapsCompleted"),
            "last_lap": number(row.get("lastLapTime")),
            "best_lap": number(row.get("bestLapTime")),
            "speed_kmh": round((number((row.get("carVelocity") or {}).get("velocity")) or 0) * 3.6),
            "lap_fraction": _fraction(number(row.get("lapDistance")), length),
        }
    return {
        "view": "map",
        "session_id": inp.session_id,
        "track_name": str(inp.meta.get("track") or ""),
        "live": inp.live,
        "viewbox": trackmap.VIEWBOX,
        "extrapolated": dt,
        "track": _track_part(geo),
        "sectors": _sector_marks(geo, sector_starts(cars, et), length),
        "cars": dots,
        "classes": [{"name": c, "class_id": class_id(c)} for c in classes],
        "car": car,
        "selected": info,
        "unknown_car": car is not None and selected is None,
    }


def _estimated_rows(tracker: Any, length: float | None) -> dict[str, dict[str, Any]]:
    """Without a state (after a restart, a stored session): each car's lap distance estimated
    from when its lap began and its last lap time, so the circle still shows the running order.
    """
    if tracker is None or not length or tracker.last_et is None:
        return {}
    out = {}
    for key, car in tracker.cars.items():
        laps = [lap for lap in car.laps.values() if lap.lap_time > 0]
        if car.lap_start_et is None or not laps:
            continue
        lap_time = max(laps, key=lambda lap: lap.lap).lap_time
        fraction = ((tracker.last_et - car.lap_start_et) / lap_time) % 1.0
        out[key] = {"lapDistance": round(fraction * length, 1), "finishStatus": car.finish_status}
    return out


def _fraction(distance: float | None, length: float | None) -> float | None:
    if distance is None or not length:
        return None
    return round(min(max(distance / length, 0.0), 1.0), 3)


def parts(model: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("map-track", "track", {"model": model}),
        ("map-cars", "cars", {"model": model}),
    ]
