"""The classification of a session: races by laps then line crossing, timed sessions by best lap.

The order is the tracker's (`Tracker.classification`: laps completed, then the ET of the line
that completed them, then the grid; timed sessions by best valid lap, cars without a time last
in slot order), so the results page, the CSV and the API can never disagree with what the
tracker decided. Gaps are per class and overall with the same rules as the live standings
(`web.views.gaps`): races by the line ETs of the behind car's last lap, timed sessions by best
lap. Colour marks ("class", "car", "driver": CSS `m-class`...): the best lap is purple only
when it is the class best; the best lap's sectors are purple (class best sector), blue (the
car's best) or green (the lap's driver's best in that car).
"""

from __future__ import annotations

from typing import Any

from server.tracking import Tracker
from server.tracking.bests import Best
from server.tracking.cars import CarRecord
from server.tracking.laps import Lap
from web.views.carinfo import STATUS_NAMES, class_id, class_rank
from web.views.gaps import Running, all_gaps

SECTORS = ("s1", "s2", "s3")


def _best_time(best: Best | None, name: str) -> float | None:
    entry = getattr(best, name) if best is not None else None
    return entry[0] if entry else None


def colour(value: float | None, name: str, bests: tuple[Best | None, ...]) -> str:
    """The colour mark of a lap or sector time `name`: "class", "car", "driver" or ""."""
    if value is None or value <= 0:
        return ""
    for scope, best in zip(("class", "car", "driver"), bests, strict=False):
        known = _best_time(best, name)
        if known is not None and value <= known + 1e-9:
            return scope
    return ""


def _running(tracker: Tracker, car: CarRecord) -> Running:
    best = tracker.bests.by_car.get(car.key)
    lines = {n: lap.end_et for n, lap in car.laps.items() if lap.end_et is not None}
    return Running(
        key=car.key,
        car_class=car.car_class,
        laps=car.laps_done,
        distance=None,
        behind_leader=None,
        line_ets=lines,
        best=best.lap_time if best is not None else None,
    )


def _lap_doc(lap: Lap | None, bests: tuple[Best | None, ...], lap_colour: bool) -> dict | None:
    if lap is None:
        return None
    doc: dict[str, Any] = {
        "lap": lap.lap,
        "time": lap.lap_time if lap.lap_time > 0 else None,
        "driver": lap.driver,
        "compounds": list(lap.compounds) if lap.compounds else None,
        "fuel": lap.fuel,
        "ve": lap.ve,
    }
    # the best lap is purple only when it is the class best (never blue or green)
    doc["colour"] = "class" if lap_colour and colour(lap.lap_time, "lap", bests[:1]) else ""
    for name in SECTORS:
        value = getattr(lap, name)
        doc[name] = value if value > 0 else None
        doc[f"{name}_colour"] = colour(value, name, bests)
    return doc


def drivers(car: CarRecord) -> list[str]:
    """The car's drivers in the order they first drove it."""
    seen = [stint.driver for stint in car.stints.stints]
    seen += [car.laps[n].driver for n in sorted(car.laps)] + [car.driver]
    return list(dict.fromkeys(name for name in seen if name))


def _best_lap(tracker: Tracker, car: CarRecord) -> Lap | None:
    best = tracker.bests.by_car.get(car.key)
    if best is None or best.lap is None:
        return None
    return car.laps.get(best.lap[2])


def result_rows(tracker: Tracker) -> list[dict[str, Any]]:
    """One row per car in classification order (see the module docstring)."""
    order = [tracker.cars[key] for key in tracker.classification()]
    gaps = all_gaps([_running(tracker, car) for car in order], tracker.is_race, 0.0)
    in_class: dict[str, int] = {}
    rows = []
    for position, car in enumerate(order, start=1):
        in_class[car.car_class] = in_class.get(car.car_class, 0) + 1
        best_lap = _best_lap(tracker, car)
        last = car.laps.get(car.laps_done)
        shown = last if tracker.is_race else best_lap
        bests_for = (
            tracker.bests.by_class.get(car.car_class),
            tracker.bests.by_car.get(car.key),
            tracker.bests.by_driver.get((car.key, best_lap.driver)) if best_lap else None,
        )
        gap = gaps[car.key]
        rows.append(
            {
                "position": position,
                "class_position": in_class[car.car_class],
                "key": car.key,
                "number": car.number,
                "team": car.team,
                "vehicle": car.vehicle_name,
                "vehicle_file": car.vehicle,
                "car_class": car.car_class,
                "class_id": class_id(car.car_class),
                "driver": shown.driver if shown is not None and shown.driver else car.driver,
                "drivers": drivers(car),
                "grid": car.grid if car.grid > 0 else None,
                "laps": car.laps_done,
                "status": STATUS_NAMES.get(car.finish_status, "Run"),
                "finish_status": car.finish_status,
                "finish_et": last.end_et if last is not None else None,
                "gap": gap["gap"] if position > 1 else None,
                "interval": gap["interval"] if position > 1 else None,
                "class_gap": gap["class_gap"] if in_class[car.car_class] > 1 else None,
                "class_interval": gap["class_interval"] if in_class[car.car_class] > 1 else None,
                "best": _lap_doc(best_lap, bests_for, lap_colour=True),
                "last": _lap_doc(last, bests_for, lap_colour=False) if tracker.is_race else None,
                "pit_stops": sum(1 for s in car.stops if not s.garage or s.entry_et is not None),
                "penalties": car.penalties_total,
            }
        )
    return rows


def results(tracker: Tracker) -> dict[str, Any]:
    """The results: rows overall and grouped by class (classes fastest first)."""
    rows = result_rows(tracker)
    classes: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        classes.setdefault(row["car_class"], []).append(row)
    ordered = sorted(classes, key=class_rank)
    return {
        "kind": "race" if tracker.is_race else "timed",
        "rows": rows,
        "classes": [
            {
                "name": name,
                "class_id": class_id(name),
                "best": _class_best(tracker, name),
                "keys": [row["key"] for row in classes[name]],
            }
            for name in ordered
        ],
    }


def _class_best(tracker: Tracker, name: str) -> dict[str, Any] | None:
    best = tracker.bests.by_class.get(name)
    return best.as_dict() if best is not None else None
