"""Conditions over time from the tracker's samples: temperatures, and rain with wetness.

Two charts because they have two units: air and track temperature in °C, rain and path wetness
as fractions 0..1 (drawn as percentages). A sample with a value missing gives no point.
"""

from __future__ import annotations

from typing import Any

from server.tracking import Tracker

TEMPERATURES = (("track_temp", "track temperature"), ("air_temp", "air temperature"))
WETNESS = (
    ("raining", "rain"),
    ("wetness_avg", "wetness (average)"),
    ("wetness_max", "wetness (max)"),
)


def _series(tracker: Tracker, fields: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    out = []
    for name, label in fields:
        points = [
            [round(sample.et, 3), getattr(sample, name)]
            for sample in tracker.conditions
            if getattr(sample, name) is not None
        ]
        out.append(
            {
                "key": name,
                "label": label,
                "class_id": name,
                "focus": False,
                "points": points,
                "marks": [],
            }
        )
    return out


def _x(tracker: Tracker) -> dict[str, Any]:
    ets = [sample.et for sample in tracker.conditions]
    return {
        "label": "session time",
        "min": min(ets, default=0),
        "max": max(ets, default=1),
        "unit": "clock",
    }


def temperature_chart(tracker: Tracker) -> dict[str, Any]:
    series = _series(tracker, TEMPERATURES)
    values = [y for s in series for _, y in s["points"]]
    low = min(values, default=0.0)
    high = max(values, default=40.0)
    return {
        "id": "temperatures",
        "title": "Air and track temperature",
        "x": _x(tracker),
        "y": {"label": "°C", "min": float(int(low) - 2), "max": float(int(high) + 2), "unit": ""},
        "series": series,
        "bands": [],
    }


def wetness_chart(tracker: Tracker) -> dict[str, Any]:
    return {
        "id": "wetness",
        "title": "Rain and track wetness",
        "x": _x(tracker),
        "y": {"label": "%", "min": 0.0, "max": 1.0, "unit": "%", "step": 0.25},
        "series": _series(tracker, WETNESS),
        "bands": [],
    }
