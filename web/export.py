"""Flat rows of a session (laps, pit stops, stints, results) and their CSV.

The JSON API and the CSV downloads are built from the same row functions, so a CSV read back
with `csv.reader` gives the API's rows (`cell` is the one conversion: None -> "", booleans ->
1/0, numbers as Python writes them, lists joined with ","). Spreadsheet formulas: a text cell
starting with = + - @ (or a tab or carriage return) gets a leading "'" so that a driver named
`=cmd|' /C calc'!A0` is shown as text, not run (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from server.tracking import Tracker
from web.analysis.results import result_rows

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

LAP_COLUMNS = (
    "car", "number", "team", "car_class", "lap", "driver", "lap_time", "s1", "s2", "s3",
    "valid", "position", "class_position", "pit", "garage", "fuel", "ve", "compounds",
    "start_et", "end_et", "source",
)  # fmt: skip
STOP_COLUMNS = (
    "car", "number", "team", "stop", "lap", "entry_et", "stop_et", "release_et", "exit_et",
    "garage_in_et", "garage_out_et", "lane_time", "stationary_time", "drive_through", "garage",
    "driver_swap", "drivers", "penalty_served", "service_time", "fuel", "ve", "tyres_changed",
    "compounds", "recovered", "closed",
)  # fmt: skip
STINT_COLUMNS = (
    "car", "number", "team", "stint", "driver", "start_et", "end_et", "ended_by", "first_lap",
    "last_lap", "laps", "best_lap", "average_lap", "stops", "duration",
)  # fmt: skip
RESULT_COLUMNS = (
    "position", "class_position", "car", "number", "team", "vehicle", "car_class", "driver",
    "drivers", "laps", "status", "gap_laps", "gap_time", "class_gap_laps", "class_gap_time",
    "best_lap", "best_lap_number", "best_s1", "best_s2", "best_s3", "pit_stops", "penalties",
    "grid", "finish_et",
)  # fmt: skip


def _car_fields(tracker: Tracker, key: str) -> dict[str, Any]:
    car = tracker.cars[key]
    return {"car": key, "number": car.number, "team": car.team, "car_class": car.car_class}


def lap_rows(tracker: Tracker, car: str | None = None) -> list[dict[str, Any]]:
    keys = [car] if car is not None else sorted(tracker.cars, key=lambda k: tracker.cars[k].slot)
    out = []
    for key in keys:
        ident = _car_fields(tracker, key)
        for lap in tracker.car_laps(key):
            out.append(
                {
                    **ident,
                    "lap": lap.lap,
                    "driver": lap.driver,
                    "lap_time": lap.lap_time if lap.lap_time > 0 else None,
                    "s1": lap.s1 if lap.s1 > 0 else None,
                    "s2": lap.s2 if lap.s2 > 0 else None,
                    "s3": lap.s3 if lap.s3 > 0 else None,
                    "valid": lap.valid,
                    "position": lap.position,
                    "class_position": lap.class_position,
                    "pit": lap.pit,
                    "garage": lap.garage,
                    "fuel": lap.fuel,
                    "ve": lap.ve,
                    "compounds": list(lap.compounds) if lap.compounds else None,
                    "start_et": lap.start_et,
                    "end_et": lap.end_et,
                    "source": lap.source,
                }
            )
    return out


def stop_rows(tracker: Tracker, car: str | None = None) -> list[dict[str, Any]]:
    keys = [car] if car is not None else sorted(tracker.cars, key=lambda k: tracker.cars[k].slot)
    out = []
    for key in keys:
        ident = _car_fields(tracker, key)
        del ident["car_class"]
        for stop in tracker.pit_stops(key):
            lane = (
                round(stop.exit_et - stop.entry_et, 3)
                if stop.exit_et is not None and stop.entry_et is not None
                else None
            )
            out.append(
                {
                    **ident,
                    "stop": stop.number,
                    "lap": stop.lap,
                    "entry_et": stop.entry_et,
                    "stop_et": stop.stop_et,
                    "release_et": stop.release_et,
                    "exit_et": stop.exit_et,
                    "garage_in_et": stop.garage_in_et,
                    "garage_out_et": stop.garage_out_et,
                    "lane_time": lane,
                    "stationary_time": stop.stationary_time,
                    "drive_through": stop.drive_through,
                    "garage": stop.garage,
                    "driver_swap": bool(stop.swaps),
                    "drivers": [s["driver_in"] for s in stop.swaps] or None,
                    "penalty_served": stop.penalty_served,
                    "service_time": stop.service_time,
                    "fuel": stop.fuel,
                    "ve": stop.ve,
                    "tyres_changed": [int(t) for t in stop.tyres_changed]
                    if stop.tyres_changed
                    else None,
                    "compounds": list(stop.compounds) if stop.compounds else None,
                    "recovered": stop.recovered,
                    "closed": stop.closed,
                }
            )
    return out


def stint_rows(tracker: Tracker, car: str | None = None) -> list[dict[str, Any]]:
    keys = [car] if car is not None else sorted(tracker.cars, key=lambda k: tracker.cars[k].slot)
    out = []
    for key in keys:
        ident = _car_fields(tracker, key)
        del ident["car_class"]
        for stint in tracker.stints(key):
            doc = stint.as_dict()
            doc["stint"] = doc.pop("number")
            out.append({**ident, **{k: doc[k] for k in STINT_COLUMNS[3:]}})
    return [{k: row[k] for k in STINT_COLUMNS} for row in out]


def results_rows(tracker: Tracker) -> list[dict[str, Any]]:
    out = []
    for row in result_rows(tracker):
        best = row["best"] or {}
        gap, class_gap = row["gap"] or {}, row["class_gap"] or {}
        out.append(
            {
                "position": row["position"],
                "class_position": row["class_position"],
                "car": row["key"],
                "number": row["number"],
                "team": row["team"],
                "vehicle": row["vehicle"],
                "car_class": row["car_class"],
                "driver": row["driver"],
                "drivers": row["drivers"],
                "laps": row["laps"],
                "status": row["status"],
                "gap_laps": gap.get("laps"),
                "gap_time": gap.get("time"),
                "class_gap_laps": class_gap.get("laps"),
                "class_gap_time": class_gap.get("time"),
                "best_lap": best.get("time"),
                "best_lap_number": best.get("lap"),
                "best_s1": best.get("s1"),
                "best_s2": best.get("s2"),
                "best_s3": best.get("s3"),
                "pit_stops": row["pit_stops"],
                "penalties": row["penalties"],
                "grid": row["grid"],
                "finish_et": row["finish_et"],
            }
        )
    return out


TABLES = {
    "laps": (lap_rows, LAP_COLUMNS),
    "pit-stops": (stop_rows, STOP_COLUMNS),
    "stints": (stint_rows, STINT_COLUMNS),
    "results": (lambda tracker, car=None: results_rows(tracker), RESULT_COLUMNS),
}


def cell(value: Any) -> str:
    """One value as CSV text (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list | tuple):
        return ",".join(cell(v) for v in value)
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_START) else value
    return str(value)


def to_csv(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    """CSV text with a header row; every row gives every column."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(row.get(name)) for name in columns])
    return buffer.getvalue()
