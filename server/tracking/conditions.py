"""Conditions over time: a sample when something changed meaningfully, else one a minute.

A 24-hour race observed every second would give 86 400 identical rows; the chart needs the
shape. A sample is taken at the first observation, when the phase changes, when a value moved by
more than its threshold since the last sample, and otherwise every `INTERVAL` seconds of ET.
"""

from __future__ import annotations

from typing import Any

from server.tracking.events import ConditionsSample

INTERVAL = 60.0  # s of ET between samples when nothing moved
THRESHOLDS = {
    "air_temp": 0.5,  # °C
    "track_temp": 0.5,
    "raining": 0.05,  # 0..1
    "dark_cloud": 0.05,
    "wetness_avg": 0.02,
    "wetness_min": 0.02,
    "wetness_max": 0.02,
}
_SOURCE = {
    "air_temp": "ambientTemp",
    "track_temp": "trackTemp",
    "raining": "raining",
    "dark_cloud": "darkCloud",
    "wetness_avg": "averagePathWetness",
    "wetness_min": "minPathWetness",
    "wetness_max": "maxPathWetness",
    "time_remaining": "timeRemainingInGamePhase",
}


def _num(value: object) -> float | None:
    return float(value) if type(value) in (int, float) else None


def read_conditions(session: dict[str, Any], et: float) -> ConditionsSample:
    """The conditions a sessionInfo object shows."""
    values = {name: _num(session.get(key)) for name, key in _SOURCE.items()}
    phase = session.get("gamePhase")
    return ConditionsSample(et, phase=phase if type(phase) is int else None, **values)


def worth_sampling(last: ConditionsSample | None, now: ConditionsSample) -> bool:
    """Whether `now` should be recorded after `last`."""
    if last is None:
        return True
    if now.et - last.et >= INTERVAL or now.phase != last.phase:
        return True
    for name, limit in THRESHOLDS.items():
        a, b = getattr(last, name), getattr(now, name)
        if (a is None) != (b is None) or (a is not None and abs(a - b) > limit):
            return True
    return False
