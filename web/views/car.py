"""Car view: one car's laps, pit stops and stints, and where it is now.

Colours of times follow the tracker's bests (`server/tracking/bests.py`): a lap or sector time
of a valid lap that equals the class best is "class", else the car's best "car", else its
driver's best in this car "driver" (the checks use <=, so a tie is coloured). Laps the tracker
still misses (backfill pending) appear as placeholder rows so a hole is visible, not hidden.

Live parts: `car-summary` (changes every feed), `car-laps` (the laps table: it only changes
when a lap is completed or a best moves, and is rendered only then: `laps_fragment`),
`car-stops` and `car-stints` (change at pit events and laps; while the car is in the pit lane
its open stop counts up).
"""

from __future__ import annotations

import itertools
from typing import Any

import orjson
from markupsafe import Markup

from server.tracking.bests import Best
from server.tracking.laps import Lap
from server.tracking.pits import PitStop
from server.tracking.stints import Stint
from web import render
from web.views.carinfo import identity, number, state_cars, status_code
from web.views.model import SessionInput

TEMPLATE = "car.html"
SCOPES = ("class", "car", "driver")
_EPS = 1e-6
COMPOUND_LETTERS = {"Soft": "S", "Medium": "M", "Hard": "H", "Wet": "W"}


def _best_scope(value: float, field: str, bests: list[Best | None]) -> str | None:
    """ "class", "car" or "driver": the widest best `value` equals (or beats), else None."""
    if value <= 0:
        return None
    for scope, best in zip(SCOPES, bests, strict=True):
        entry = getattr(best, field) if best is not None else None
        if entry is not None and value <= entry[0] + _EPS:
            return scope
    return None


def tyres(compounds: object) -> dict[str, Any] | None:
    """A tyre badge: one letter when the four corners match, else FL FR / RL RR letters."""
    if not isinstance(compounds, (list, tuple)) or len(compounds) != 4:
        return None
    names = [c if isinstance(c, str) else "" for c in compounds]
    letters = [COMPOUND_LETTERS.get(n, "?") for n in names]
    if len(set(letters)) == 1:
        return {"label": letters[0], "title": names[0] or "Unknown", "mixed": False}
    title = f"FL {names[0]}, FR {names[1]}, RL {names[2]}, RR {names[3]}"
    return {"label": "".join(letters), "title": title, "mixed": True}


def _lap_row(lap: Lap, previous: Lap | None, bests: list[Best | None], stops_on: set[int]):
    marks = []
    if lap.pit:
        marks.append("P")
    if lap.garage:
        marks.append("G")
    if previous is not None and previous.driver and lap.driver and previous.driver != lap.driver:
        marks.append("S")
    valid = lap.valid and lap.lap_time > 0
    used_fuel = used_ve = None
    if previous is not None:
        if lap.fuel is not None and previous.fuel is not None and previous.fuel > lap.fuel:
            used_fuel = round(previous.fuel - lap.fuel, 4)
        if lap.ve is not None and previous.ve is not None and previous.ve > lap.ve:
            used_ve = round(previous.ve - lap.ve, 4)
    return {
        "lap": lap.lap,
        "missing": False,
        "time": lap.lap_time if lap.lap_time > 0 else None,
        "sectors": [s if s > 0 else None for s in lap.sector_times],
        "time_best": _best_scope(lap.lap_time, "lap", bests) if valid else None,
        "sector_bests": [
            _best_scope(s, name, bests) if valid else None
            for s, name in zip(lap.sector_times, ("s1", "s2", "s3"), strict=True)
        ],
        "valid": valid,
        "driver": lap.driver,
        "position": lap.position,
        "class_position": lap.class_position,
        "start_et": lap.start_et,
        "pit": lap.pit,
        "garage": lap.garage,
        "stop": lap.lap in stops_on,
        "marks": "".join(marks),
        "tyres": tyres(lap.compounds),
        "fuel": lap.fuel,
        "ve": lap.ve,
        "fuel_used": used_fuel,
        "ve_used": used_ve,
        "source": lap.source,
    }


def laps_rows(record: Any, bests_of: Any) -> list[dict[str, Any]]:
    """Lap rows in order, with placeholder rows for laps the tracker does not have (yet)."""
    rows = []
    previous: Lap | None = None
    stops_on = {s.lap for s in record.stops}
    highest = max([*record.laps, *record.missing, 0])
    for n in range(1, highest + 1):
        lap = record.laps.get(n)
        if lap is None:
            rows.append({"lap": n, "missing": True})
            previous = None
            continue
        bests = [
            bests_of.by_class.get(record.car_class),
            bests_of.by_car.get(record.key),
            bests_of.by_driver.get((record.key, lap.driver)),
        ]
        rows.append(_lap_row(lap, previous, bests, stops_on))
        previous = lap
    return rows


def use_per_lap(rows: list[dict[str, Any]], kind: str, laps: int = 5) -> float | None:
    """Average fuel or energy ("fuel", "ve") used per lap over the last `laps` green laps: no
    pit lane in the lap or the one before (a refuel or a stop would distort it)."""
    used = []
    for prev, row in itertools.pairwise(rows):
        if row.get("missing") or prev.get("missing") or row["pit"] or prev["pit"]:
            continue
        value = row[f"{kind}_used"]
        if value is not None:
            used.append(value)
    tail = used[-laps:]
    return round(sum(tail) / len(tail), 4) if tail else None


def _last(rows: list[dict[str, Any]], kind: str) -> float | None:
    for row in reversed(rows):
        if not row.get("missing") and row[kind] is not None:
            return row[kind]
    return None


def _stop_kind(stop: PitStop) -> str:
    if stop.garage:
        return "Garage"
    if stop.drive_through:
        return "Drive-through"
    if stop.stop_et is not None or stop.service_time or stop.recovered:
        return "Stop"
    return "Lane"


def _stop_row(stop: PitStop, et: float | None) -> dict[str, Any]:
    lane = None
    running = False
    if stop.entry_et is not None:
        if stop.exit_et is not None:
            lane = round(stop.exit_et - stop.entry_et, 3)
        elif not stop.closed and et is not None:
            lane, running = round(max(0.0, et - stop.entry_et), 3), True
    garage_time = None
    if stop.garage_in_et is not None:
        end = stop.garage_out_et if stop.garage_out_et is not None else et
        if end is not None:
            garage_time = round(max(0.0, end - stop.garage_in_et), 3)
            running = running or stop.garage_out_et is None
    changed = stop.tyres_changed
    return {
        "number": stop.number,
        "lap": stop.lap,
        "kind": _stop_kind(stop),
        "entry_et": stop.entry_et,
        "stop_et": stop.stop_et,
        "release_et": stop.release_et,
        "exit_et": stop.exit_et,
        "garage_in_et": stop.garage_in_et,
        "garage_out_et": stop.garage_out_et,
        "stationary": stop.stationary_time,
        "lane_time": lane,
        "garage_time": garage_time,
        "running": running,
        "estimated": stop.entry_estimated or stop.stop_estimated or stop.exit_estimated,
        "recovered": stop.recovered,
        "stop_after_line": stop.stop_after_line,
        "swaps": [f"{s['driver_out']} → {s['driver_in']}" for s in stop.swaps],
        "penalty": stop.penalty_served or ("yes" if stop.penalty else None),
        "service_known": stop.resolved,
        "tyres_changed": sum(changed) if changed is not None else None,
        "tyres": tyres(stop.compounds) if changed and any(changed) else None,
        "fuel": stop.fuel,
        "ve": stop.ve if stop.ve else None,  # 0: a car without virtual energy
    }


def stop_totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts and summed times of a car's pit visits (garage visits counted apart)."""
    visits = [r for r in rows if r["kind"] != "Garage"]
    return {
        "visits": len(visits),
        "stops": sum(1 for r in visits if r["kind"] == "Stop"),
        "drive_throughs": sum(1 for r in visits if r["kind"] == "Drive-through"),
        "swaps": sum(len(r["swaps"]) for r in rows),
        "garage_visits": len(rows) - len(visits),
        "lane_time": round(sum(r["lane_time"] or 0.0 for r in visits), 3),
        "stationary_time": round(sum(r["stationary"] or 0.0 for r in visits), 3),
        "garage_time": round(sum(r["garage_time"] or 0.0 for r in rows), 3),
        "serviced": sum(1 for r in visits if r["service_known"]),
    }


def _stint_row(stint: Stint, et: float | None, live: bool) -> dict[str, Any]:
    doc = stint.as_dict()
    duration = stint.duration
    if stint.open and live and et is not None:
        duration = round(max(duration, et - stint.start_et), 3)
    doc["duration"] = duration
    doc["open"] = stint.open
    return doc


def drive_times(stints: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Seconds and share of the car's drive time per driver, most first."""
    per: dict[str, dict[str, Any]] = {}
    for s in stints:
        entry = per.setdefault(s["driver"], {"driver": s["driver"], "time": 0.0, "stints": 0})
        entry["time"] = round(entry["time"] + s["duration"], 3)
        entry["stints"] += 1
        entry["longest"] = max(entry.get("longest", 0.0), s["duration"])
    total = sum(e["time"] for e in per.values())
    out = sorted(per.values(), key=lambda e: -e["time"])
    for e in out:
        e["share"] = round(e["time"] / total, 4) if total > 0 else None
    return out


def _class_position(cars: dict[str, dict[str, Any]], key: str) -> int | None:
    row = cars.get(key)
    if row is None or type(row.get("position")) is not int:
        return None
    mine = row.get("carClass")
    return 1 + sum(
        1
        for other in cars.values()
        if other.get("carClass") == mine
        and type(other.get("position")) is int
        and other["position"] < row["position"]
    )


def _summary(
    key: str, row: dict[str, Any] | None, record: Any, cars: dict, et: float | None, stints
) -> dict[str, Any]:
    ws = (row or {}).get("ws") if isinstance((row or {}).get("ws"), dict) else {}
    current = next((s for s in reversed(stints) if s["open"]), None)
    ve_pct = number(ws.get("virtualEnergy"))
    lap_start = number((row or {}).get("lapStartET"))
    penalties = (row or {}).get("penalties")
    return {
        "status": status_code(row, record),
        "position": (row or {}).get("position"),
        "class_position": _class_position(cars, key),
        "laps": (row or {}).get("lapsCompleted", getattr(record, "laps_done", None)),
        "last_lap": number((row or {}).get("lastLapTime")),
        "best_lap": number((row or {}).get("bestLapTime")),
        "gap": {
            "laps": (row or {}).get("lapsBehindLeader"),
            "time": (row or {}).get("timeBehindLeader"),
        },
        "interval": {
            "laps": (row or {}).get("lapsBehindNext"),
            "time": (row or {}).get("timeBehindNext"),
        },
        # the game reports 100% for the player's own car: its laps (from the usage) tell
        "fuel": None
        if (row or {}).get("player") is True
        else number((row or {}).get("fuelFraction")),
        "ve": ve_pct / 100 if ve_pct is not None else None,
        "tyres": tyres(ws.get("compoundNames")),
        "penalties": penalties if type(penalties) is int else getattr(record, "penalties", None),
        "pit_stops": len(record.stops) if record is not None else (row or {}).get("pitstops"),
        "lap_time_so_far": (
            round(et - lap_start, 1) if et is not None and lap_start is not None else None
        ),
        "stint": current,
        "et": et,
    }


def build(inp: SessionInput, car: str = "") -> dict[str, Any]:
    """The car view model; `found` is False when the session has no car `car`."""
    cars = state_cars(inp.state)
    tracker = inp.tracker
    record = tracker.cars.get(car) if tracker is not None else None
    row = cars.get(car)
    base = {
        "view": "car",
        "session_id": inp.session_id,
        "track_name": str(inp.meta.get("track") or ""),
        "session_type": str(inp.meta.get("session_type") or ""),
        "live": inp.live,
        "car": car,
    }
    if record is None and row is None:
        return {**base, "found": False}
    et = inp.state_et if inp.state_et is not None else (tracker.last_et if tracker else None)
    stop_rows = [_stop_row(s, et) for s in record.stops] if record is not None else []
    stint_rows = (
        [_stint_row(s, et, inp.live) for s in record.stints.stints] if record is not None else []
    )
    ident = identity(car, row, record)
    laps = laps_rows(record, tracker.bests) if record is not None and tracker else []
    summary = _summary(car, row, record, cars, et, stint_rows)
    for kind in ("fuel", "ve"):
        per_lap = use_per_lap(laps, kind)
        if summary[kind] is None:
            summary[kind] = _last(laps, kind)  # at the line of the last lap
        level = summary[kind]
        summary[f"{kind}_per_lap"] = per_lap
        summary[f"{kind}_laps_left"] = (
            round(level / per_lap, 1) if per_lap and level is not None else None
        )
    return {
        **base,
        "found": True,
        "identity": ident,
        "drivers": sorted(record.drivers()) if record is not None else [ident["driver"]],
        "summary": summary,
        "laps": laps,
        "stops": stop_rows,
        "stop_totals": stop_totals(stop_rows),
        "stints": stint_rows,
        "drive_times": drive_times(stint_rows),
    }


def laps_fragment(rows: list[dict[str, Any]]) -> Markup:
    """The out-of-band HTML of the laps table, rendered once per distinct set of rows.

    The hub renders a watched car about every second, but its laps only change when a lap is
    completed or a best moves; a 24-hour car has ~400 laps (~190 kB, ~40 ms to render), so the
    HTML is kept by the rows' content (the rows alone decide it) and reused until they change.
    """
    key = orjson.dumps(rows)
    html = _laps_html.get(key)
    if html is None:
        macros = render.environment().get_template("parts/car.html").module
        html = Markup(str(macros.laps(oob=True, model={"laps": rows})))
        if len(_laps_html) >= _LAPS_CACHE:
            _laps_html.pop(next(iter(_laps_html)))  # the oldest entry
        _laps_html[key] = html
    return html


_LAPS_CACHE = 64
_laps_html: dict[bytes, Markup] = {}


def parts(model: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    if not model.get("found"):
        return []
    return [
        ("car-summary", "summary", {"model": model}),
        ("car-laps", "prerendered", {"html": laps_fragment(model["laps"])}),
        ("car-stops", "stops", {"model": model}),
        ("car-stints", "stints", {"model": model}),
    ]
