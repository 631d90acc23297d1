"""Pure formatting of timing values for the pages (and the Jinja filters that apply it).

The view models keep numbers (their JSON twin is for programs); only the templates turn them
into text, through these functions, so every page writes a lap time or a gap the same way.
Missing values (None, or the game's negative sentinels) print as "-". Nothing follows the
locale: a timing screen must read the same on every viewer's machine.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

DASH = "-"

PHASE_NAMES = {
    0: "Starting",
    1: "Reconnaissance laps",
    2: "Grid",
    3: "Formation lap",
    4: "Countdown",
    5: "Green",
    6: "Full-course yellow",
    7: "Session stopped",
    8: "Checkered",
    9: "Paused",
}


def _number(value: object) -> float | None:
    """A finite number, else None (bools are not numbers here)."""
    if type(value) in (int, float) and math.isfinite(value):  # type: ignore[arg-type]
        return float(value)  # type: ignore[arg-type]
    return None


def lap_time(seconds: object) -> str:
    """A lap or sector time: "1:33.717", "40.240", "1:02:03.004"; "-" when unknown (<= 0)."""
    value = _number(seconds)
    if value is None or value <= 0:
        return DASH
    millis = round(value * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}.{ms:03d}"
    if minutes:
        return f"{minutes}:{secs:02d}.{ms:03d}"
    return f"{secs}.{ms:03d}"


def gap(value: object) -> str:
    """A gap or interval: {"laps": n, "time": s} -> "+2 L" / "+1.234" / "+1:02.345".

    The reference car itself has no gap (None) and prints "-", as do unknown times; a car
    level with the one ahead prints "+0.000" (a "-" there would read as "leader")."""
    if not isinstance(value, dict):
        return DASH
    laps = value.get("laps")
    if type(laps) is int and laps > 0:
        return f"+{laps} L"
    seconds = _number(value.get("time"))
    if seconds is None or seconds < 0:
        return DASH
    if seconds >= 60:
        return "+" + lap_time(seconds)
    return f"+{seconds:.3f}"


def duration(seconds: object) -> str:
    """A duration or a session clock: "1:02:03", "0:00:09"; "-" when unknown or negative."""
    value = _number(seconds)
    if value is None or value < 0:
        return DASH
    whole = int(value)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def short_duration(seconds: object) -> str:
    """A stint or pit duration: "12:34" under an hour, "1:02:03" above."""
    value = _number(seconds)
    if value is None or value < 0:
        return DASH
    if value >= 3600:
        return duration(value)
    minutes, secs = divmod(int(value), 60)
    return f"{minutes}:{secs:02d}"


def minutes(seconds: object) -> str:
    """A long running time to the minute ("7 min", "3 h 05"): it changes once a minute, so a
    row showing it is not re-sent every second."""
    value = _number(seconds)
    if value is None or value < 0:
        return DASH
    whole = int(value // 60)
    if whole < 60:
        return f"{whole} min"
    return f"{whole // 60} h {whole % 60:02d}"


def temperature(celsius: object) -> str:
    """ "23.4 °C" (0 °C is a temperature, not a missing value)."""
    value = _number(celsius)
    return DASH if value is None else f"{value:.1f} °C"


def percent(fraction: object, decimals: int = 0) -> str:
    """A fraction 0..1 as a percentage: "45%" (negative sentinels: "-")."""
    value = _number(fraction)
    if value is None or value < 0:
        return DASH
    return f"{value * 100:.{decimals}f}%"


def time_of_day(seconds: object) -> str:
    """The in-game time of day from seconds after midnight: "13:25"."""
    value = _number(seconds)
    if value is None or value < 0:
        return DASH
    minutes = int(value // 60) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def clock(ts: object) -> str:
    """A unix time as UTC wall-clock time: "18:02:03 UTC"."""
    value = _number(ts)
    if value is None or value <= 0:
        return DASH
    return datetime.fromtimestamp(value, UTC).strftime("%H:%M:%S UTC")


def date_time(ts: object) -> str:
    """A unix time as a UTC date and time: "2026-11-25 18:02"."""
    value = _number(ts)
    if value is None or value <= 0:
        return DASH
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M")


def iso(ts: object) -> str:
    """A unix time as ISO 8601 UTC (for <time datetime=...> and scripts)."""
    value = _number(ts)
    if value is None or value <= 0:
        return ""
    return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def ago(seconds: object) -> str:
    """An age: "now", "12 s ago", "3 min ago", "2 h ago", "4 d ago"."""
    value = _number(seconds)
    if value is None:
        return DASH
    if value < 2:
        return "now"
    if value < 60:
        return f"{int(value)} s ago"
    if value < 3600:
        return f"{int(value // 60)} min ago"
    if value < 86400:
        return f"{int(value // 3600)} h ago"
    return f"{int(value // 86400)} d ago"


def phase_name(phase: object) -> str:
    if type(phase) is not int:
        return DASH
    return PHASE_NAMES.get(phase, f"Unknown ({phase})")


def number(value: object, decimals: int = 0) -> str:
    """A plain number with fixed decimals; "-" when unknown."""
    result = _number(value)
    return DASH if result is None else f"{result:.{decimals}f}"


def dash(value: object) -> object:
    """The value, or "-" for None and empty strings (so an empty cell keeps its height)."""
    return DASH if value is None or value == "" else value


FILTERS: dict[str, Callable[..., Any]] = {
    "laptime": lap_time,
    "gap": gap,
    "duration": duration,
    "short_duration": short_duration,
    "minutes": minutes,
    "temp": temperature,
    "pct": percent,
    "tod": time_of_day,
    "clock": clock,
    "date_time": date_time,
    "iso": iso,
    "ago": ago,
    "phase_name": phase_name,
    "num": number,
    "dash": dash,
}
