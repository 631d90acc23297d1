"""The race charts of one class: positions per lap, gap to the class leader, lap times.

Positions come from the line crossings the tracker recorded (a car's position at lap n is its
rank among the cars of its class that completed lap n, by the ET they crossed the line), so the
lap chart agrees with the classification. A lap whose end ET is unknown (seen late) has no
point. Lap times: one series per car of the class, pit and garage laps marked, the focus car's
stints drawn as bands; the y range is cut above 112 % of the fastest lap (slow laps are drawn on
the edge) so a pit lap does not flatten the racing laps.
"""

from __future__ import annotations

import statistics
from typing import Any

from server.tracking import Tracker
from server.tracking.cars import CarRecord
from web.views.carinfo import class_id

SLOW_CUT = 1.12  # lap time chart: y range up to this x the fastest lap


def class_cars(tracker: Tracker, car_class: str) -> list[CarRecord]:
    """The cars of a class in classification order."""
    return [
        tracker.cars[key]
        for key in tracker.classification()
        if tracker.cars[key].car_class == car_class
    ]


def _label(car: CarRecord) -> str:
    return f"#{car.number} {car.team}".strip() if car.number else car.team


def _series(car: CarRecord, points: list, focus: str | None, marks: list | None = None) -> dict:
    return {
        "key": car.key,
        "label": _label(car),
        "class_id": class_id(car.car_class),
        "focus": car.key == focus,
        "points": points,
        "marks": marks or [],
    }


def crossings(cars: list[CarRecord]) -> dict[int, list[tuple[float, str]]]:
    """Lap number -> [(line ET, car key)] sorted by ET, for the given cars."""
    by_lap: dict[int, list[tuple[float, str]]] = {}
    for car in cars:
        for number, lap in car.laps.items():
            if lap.end_et is not None:
                by_lap.setdefault(number, []).append((lap.end_et, car.key))
    for line in by_lap.values():
        line.sort()
    return by_lap


def lap_chart(tracker: Tracker, car_class: str, focus: str | None = None) -> dict[str, Any]:
    """Position in class at the end of every lap, one series per car of the class."""
    cars = class_cars(tracker, car_class)
    positions: dict[str, list[list[float]]] = {car.key: [] for car in cars}
    by_lap = crossings(cars)
    for number in sorted(by_lap):
        for rank, (_, key) in enumerate(by_lap[number], start=1):
            positions[key].append([number, rank])
    top_lap = max(by_lap, default=1)
    return {
        "id": "lap-chart",
        "title": f"Lap chart: {car_class}",
        "x": {"label": "lap", "min": 0, "max": max(1, top_lap), "unit": ""},
        "y": {
            "label": "position in class",
            "min": 1,
            "max": max(2, len(cars)),
            "inverted": True,
            "step": 1 if len(cars) <= 20 else 5,
            "unit": "",
        },
        "series": [_series(car, positions[car.key], focus) for car in cars],
        "bands": [],
    }


def gap_chart(tracker: Tracker, car_class: str, focus: str | None = None) -> dict[str, Any]:
    """Seconds behind the class leader at the end of every lap (the leader: the first car of
    the class to complete that lap), over session time."""
    cars = class_cars(tracker, car_class)
    by_lap = crossings(cars)
    gaps: dict[str, list[list[float]]] = {car.key: [] for car in cars}
    for number in sorted(by_lap):
        leader_et = by_lap[number][0][0]
        for et, key in by_lap[number]:
            gaps[key].append([round(et, 3), round(et - leader_et, 3)])
    values = [gap for points in gaps.values() for _, gap in points]
    laps = [lap.lap_time for car in cars for lap in car.laps.values() if lap.lap_time > 0]
    typical = statistics.median(laps) if laps else 60.0
    top = min(max(values, default=1.0), 3 * typical)  # lapped cars' gaps on the edge
    ets = [et for points in gaps.values() for et, _ in points]
    return {
        "id": "gap-chart",
        "title": f"Gap to the class leader: {car_class}",
        "x": {
            "label": "session time",
            "min": min(ets, default=0),
            "max": max(ets, default=1),
            "unit": "clock",
        },
        "y": {"label": "gap (s)", "min": 0, "max": max(1.0, top), "unit": "", "inverted": True},
        "series": [_series(car, gaps[car.key], focus) for car in cars],
        "bands": [],
    }


def lap_times_chart(tracker: Tracker, car_class: str, focus: str | None = None) -> dict[str, Any]:
    """Lap time per lap, one series per car of the class; pit and garage laps marked; the
    focus car's stints as bands."""
    cars = class_cars(tracker, car_class)
    series = []
    fastest = None
    for car in cars:
        points, marks = [], []
        for number in sorted(car.laps):
            lap = car.laps[number]
            if lap.lap_time <= 0:
                continue
            points.append([number, lap.lap_time])
            if lap.garage:
                marks.append([number, lap.lap_time, "garage"])
            elif lap.pit:
                marks.append([number, lap.lap_time, "pit"])
            if lap.valid and (fastest is None or lap.lap_time < fastest):
                fastest = lap.lap_time
        series.append(_series(car, points, focus, marks))
    bands = []
    focus_car = tracker.cars.get(focus) if focus else None
    if focus_car is not None:
        for stint in focus_car.stints.stints:
            if stint.first_lap is not None and stint.last_lap is not None:
                bands.append(
                    {
                        "from": stint.first_lap - 0.5,
                        "to": stint.last_lap + 0.5,
                        "label": f"stint {stint.number}: {stint.driver}",
                    }
                )
    low = fastest if fastest is not None else 60.0
    top_lap = max((p[0] for s in series for p in s["points"]), default=1)
    return {
        "id": "lap-times",
        "title": f"Lap times: {car_class}",
        "x": {"label": "lap", "min": 0, "max": max(1, top_lap), "unit": ""},
        "y": {
            "label": "lap time",
            "min": round(low * 0.99, 1),
            "max": round(low * SLOW_CUT, 1),
            "unit": "laptime",
        },
        "series": series,
        "bands": bands,
    }
