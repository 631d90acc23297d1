"""The standings rows of a session: one JSON-ready dict per car, in running order.

A row joins two sources: the latest live row of the car (the game's standings + websocket row,
fresher, absent after a restart) and the tracker's facts (laps, stops, stints, bests: always
there). Every field falls back to the tracker when the live row is missing, so a page rendered
after a restart shows the last known facts instead of an empty table.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import pairwise
from typing import Any

from server.tracking import Tracker
from server.tracking.bests import Best
from server.tracking.cars import CarRecord
from server.tracking.laps import Lap
from web.vehicles import make_model
from web.views.gaps import Running, all_gaps

LOW_LAPS = 1.5  # energy or fuel for fewer laps than this is low
LOW_FRACTION = 0.10  # ... and when the use per lap is unknown, less than this
USE_LAPS = 5  # laps averaged for the use per lap

PIT_LABELS = {"REQUEST": "Req", "ENTERING": "In", "STOPPED": "Pit", "EXITING": "Out"}
FINISH = {"FSTAT_FINISHED": ("fin", "Fin"), "FSTAT_DNF": ("dnf", "DNF"), "FSTAT_DQ": ("dq", "DQ")}
CLASS_IDS = {"Hyper": "hy", "LMP2": "p2", "LMP2_ELMS": "p2e", "LMP3": "p3", "GTE": "gte",
             "GT3": "gt3"}  # fmt: skip
CLASS_ORDER = ("Hyper", "LMP2", "LMP2_ELMS", "LMP3", "GTE", "GT3")


def class_id(car_class: str) -> str:
    """A short CSS-safe id of a class (colours): "hy", "p2", ...; "x" for unknown classes."""
    return CLASS_IDS.get(car_class, "x")


def running_order(tracker: Tracker | None, live: dict[str, dict[str, Any]]) -> list[str]:
    """Car keys in running order: live positions first, then cars only the tracker knows."""
    ranked = sorted(
        (row["position"], key)
        for key, row in live.items()
        if type(row.get("position")) is int and "lapsCompleted" in row
    )
    order = [key for _, key in ranked]
    seen = set(order)
    if tracker is not None:
        order += [key for key in tracker.classification() if key not in seen]
    return order


def rows(
    tracker: Tracker | None,
    live: dict[str, dict[str, Any]],
    et: float | None,
    track_length: float,
    usage: dict[str, Any] | None = None,
    is_race: bool | None = None,
) -> list[dict[str, Any]]:
    """The standings rows (see the module docstring); `is_race` defaults to the tracker's."""
    order = running_order(tracker, live)
    if is_race is None:
        is_race = tracker.is_race if tracker is not None else False
    cars = tracker.cars if tracker is not None else {}
    bests = tracker.bests if tracker is not None else None
    running = [_running(key, cars.get(key), live.get(key, {}), bests) for key in order]
    gaps = all_gaps(running, is_race, track_length)
    class_pos: dict[str, int] = {}
    out = []
    for position, key in enumerate(order, start=1):
        car, row = cars.get(key), live.get(key, {})
        car_class = _text(row.get("carClass"), car.car_class if car else "")
        class_pos[car_class] = class_pos.get(car_class, 0) + 1
        out.append(
            {
                "key": key,
                "position": position,
                "class_position": class_pos[car_class],
                "car_class": car_class,
                "class_id": class_id(car_class),
                **_identity(car, row),
                **_status(car, row),
                **gaps[key],
                **_times(car, row, bests, car_class),
                **_supplies(car, row, usage),
                "stint": _stint(car, et),
                "progress": _progress(row, track_length),
            }
        )
    return out


# --- parts of a row --------------------------------------------------------------------------


def _running(key: str, car: CarRecord | None, row: dict[str, Any], bests: Any) -> Running:
    best_entry = bests.by_car.get(key) if bests is not None else None
    best = best_entry.lap_time if best_entry is not None else None
    if best is None:
        best = _time(row.get("bestLapTime"))
    laps = row.get("lapsCompleted")
    return Running(
        key=key,
        car_class=_text(row.get("carClass"), car.car_class if car else ""),
        laps=laps if type(laps) is int else (car.laps_done if car else 0),
        distance=_num(row.get("lapDistance")),
        behind_leader=_num(row.get("timeBehindLeader")),
        line_ets=LineETs(car.laps) if car is not None else {},
        best=best,
    )


class LineETs(Mapping[int, float]):
    """Lap number -> ET of the line that ended it, read from the laps when asked (a race gap
    needs one or two; copying them all for every car on every render would not be free)."""

    def __init__(self, laps: dict[int, Lap]) -> None:
        self._laps = laps

    def __getitem__(self, number: int) -> float:
        end = self._laps[number].end_et
        if end is None:
            raise KeyError(number)
        return end

    def __iter__(self) -> Iterator[int]:
        return (n for n, lap in self._laps.items() if lap.end_et is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _identity(car: CarRecord | None, row: dict[str, Any]) -> dict[str, Any]:
    vehicle = _text(row.get("vehicleFilename"), car.vehicle if car else "")
    vehicle_name = _text(row.get("vehicleName"), car.vehicle_name if car else "")
    make, model = make_model(vehicle, vehicle_name)
    return {
        "number": _text(row.get("carNumber"), car.number if car else ""),
        "team": _text(row.get("fullTeamName"), car.team if car else ""),
        "driver": _text(row.get("driverName"), car.driver if car else ""),
        "make": make,
        "model": model,
        "vehicle": vehicle_name,
        "laps": row["lapsCompleted"]
        if type(row.get("lapsCompleted")) is int
        else (car.laps_done if car else 0),
        "penalties": row["penalties"]
        if type(row.get("penalties")) is int
        else (car.penalties if car else 0),
    }


def _status(car: CarRecord | None, row: dict[str, Any]) -> dict[str, Any]:
    """status: run | pit | garage | fin | dnf | dq, its label, and the pit state."""
    finish = _text(row.get("finishStatus"), car.finish_status if car else "FSTAT_NONE")
    pit_state = row.get("pitState") if type(row.get("pitState")) is str else None
    in_garage = row.get("inGarageStall") if "inGarageStall" in row else (car and car.in_garage)
    if pit_state is None and car is not None and car.open_stop is not None:
        pit_state = {"lane_in": "ENTERING", "box": "STOPPED", "lane_out": "EXITING"}.get(
            car.open_stop.phase
        )
    stops = len(car.stops) if car is not None else None
    if stops is None and type(row.get("pitstops")) is int:
        stops = row["pitstops"]
    if finish in FINISH:
        status, label = FINISH[finish]
    elif finish == "FSTAT_CHECKERED":
        status, label = "fin", "Chk"
    elif in_garage:
        status, label = "garage", "Gar"
    elif pit_state in ("ENTERING", "STOPPED", "EXITING"):
        status, label = "pit", PIT_LABELS[pit_state]
    else:
        status, label = "run", "Run"
    return {
        "status": status,
        "status_label": label,
        "pit_request": pit_state == "REQUEST",
        "pits": stops or 0,
    }


def _mark(value: float | None, entry: tuple | None) -> bool:
    return value is not None and value > 0 and entry is not None and value <= entry[0]


def mark(
    value: float | None, field: str, class_best: Best | None, car_best: Best | None,
    driver_best: Best | None,
) -> str | None:  # fmt: skip
    """Which best a time equals or beats: "class", "car", "driver" (checked in that order)."""
    for name, best in (("class", class_best), ("car", car_best), ("driver", driver_best)):
        if best is not None and _mark(value, getattr(best, field)):
            return name
    return None


def _times(
    car: CarRecord | None, row: dict[str, Any], bests: Any, car_class: str
) -> dict[str, Any]:
    """best, last and the rolling sectors, each {"time", "mark"}."""
    key = car.key if car is not None else ""
    last_lap: Lap | None = car.laps.get(car.laps_done) if car is not None else None
    driver = last_lap.driver if last_lap is not None else (car.driver if car else "")
    class_best = bests.by_class.get(car_class) if bests is not None else None
    car_best = bests.by_car.get(key) if bests is not None else None
    driver_best = bests.by_driver.get((key, driver)) if bests is not None else None

    def timed(value: float | None, field: str, valid: bool = True) -> dict[str, Any]:
        found = mark(value, field, class_best, car_best, driver_best) if valid else "invalid"
        return {"time": value, "mark": found if value is not None else None}

    best_time = car_best.lap_time if car_best is not None else _time(row.get("bestLapTime"))
    best_mark = "class" if mark(best_time, "lap", class_best, None, None) else None
    if last_lap is not None:
        last_time, valid = _time(last_lap.lap_time), last_lap.valid
        previous = [_time(last_lap.s1), _time(last_lap.s2), _time(last_lap.s3)]
    else:
        last_time, valid = _time(row.get("lastLapTime")), True
        s1, s2 = _time(row.get("lastSectorTime1")), _time(row.get("lastSectorTime2"))
        previous = [s1, _diff(s2, s1), _diff(last_time, s2)]
    sectors = [timed(t, f"s{i + 1}", valid) | {"current": False} for i, t in enumerate(previous)]
    sector = _sector(row)
    if sector in (2, 3):
        c1 = _time(row.get("currentSectorTime1"))
        c2 = _time(row.get("currentSectorTime2"))
        current = [c1, _diff(c2, c1) if sector == 3 else None, None]
        sectors = [timed(t, f"s{i + 1}") | {"current": True} for i, t in enumerate(current)]
    return {
        "best": {"time": best_time, "mark": best_mark},
        "last": timed(last_time, "lap", valid),
        "sectors": sectors,
    }


def _supplies(
    car: CarRecord | None, row: dict[str, Any], usage: dict[str, Any] | None
) -> dict[str, Any]:
    """Tyres and energy/fuel: {"kind": "ve"|"fuel", "level", "per_lap", "laps_left", "low"}."""
    ws = row.get("ws") if type(row.get("ws")) is dict else {}
    names = ws.get("compoundNames")
    laps = _recent_laps(car)
    if not (type(names) is list and len(names) == 4):
        names = next((list(lap.compounds) for lap in reversed(laps) if lap.compounds), None)
    kind, level = None, None
    if type(ws.get("virtualEnergy")) in (int, float):
        kind, level = "ve", ws["virtualEnergy"] / 100.0
    elif row:
        fuel = _num(row.get("fuelFraction"))
        if row.get("player") is True:
            fuel = _usage_fuel(usage, _text(row.get("driverName"), "")) or fuel
        kind, level = "fuel", fuel
    elif laps:
        last = laps[-1]
        if last.ve is not None:
            kind, level = "ve", last.ve
        elif last.fuel is not None:
            kind, level = "fuel", last.fuel
    per_lap = _use_per_lap(laps, kind) if kind else None
    laps_left = round(level / per_lap, 1) if per_lap and level is not None else None
    if level is None:
        low = False
    elif laps_left is not None:
        low = laps_left < LOW_LAPS
    else:
        low = level < LOW_FRACTION
    return {
        "tyres": tyres(names),
        "energy": {
            "kind": kind,
            "level": round(level, 4) if level is not None else None,
            "per_lap": per_lap,
            "laps_left": laps_left,
            "low": low,
        },
    }


def _recent_laps(car: CarRecord | None) -> list[Lap]:
    """The car's last laps (enough for the use per lap), oldest first."""
    if car is None:
        return []
    first = max(1, car.laps_done - USE_LAPS)
    return [car.laps[n] for n in range(first, car.laps_done + 1) if n in car.laps]


def tyres(names: list[str] | None) -> dict[str, Any] | None:
    """Compound names LF, RF, LR, RR -> {"short": "M" | "M/H" | "SMHW", "names": [...]}."""
    if not names or not all(type(n) is str for n in names):
        return None
    letters = [n[:1].upper() if n else "?" for n in names]
    if len(set(letters)) == 1:
        short, text = letters[0], names[0]
    elif letters[0] == letters[1] and letters[2] == letters[3]:
        short, text = f"{letters[0]}/{letters[2]}", f"front {names[0]}, rear {names[2]}"
    else:
        short, text = "".join(letters), ", ".join(names)
    # one compound all round: its letter colours the cell (S, M, H, W; others plain)
    compound = letters[0] if len(set(letters)) == 1 and letters[0] in "SMHW" else None
    return {"short": short, "names": list(names), "text": text, "compound": compound}


def _use_per_lap(laps: list[Lap], kind: str) -> float | None:
    """Average use per lap over the last green laps (no pit, a level before and after)."""
    deltas = []
    for before, after in pairwise(laps):
        a = before.ve if kind == "ve" else before.fuel
        b = after.ve if kind == "ve" else after.fuel
        if after.lap != before.lap + 1 or after.pit or a is None or b is None or b >= a:
            continue
        deltas.append(a - b)
    recent = deltas[-USE_LAPS:]
    return round(sum(recent) / len(recent), 4) if recent else None


def _usage_fuel(usage: dict[str, Any] | None, driver: str) -> float | None:
    """The player's fuel from the usage table (the game reports 100% for the player's car)."""
    laps = usage.get(driver) if usage and driver else None
    if type(laps) is not dict or not laps:
        return None
    last = max(laps.values(), key=lambda e: e.get("lap", -1) if type(e) is dict else -1)
    return _num(last.get("fuel")) if type(last) is dict else None


def _stint(car: CarRecord | None, et: float | None) -> dict[str, Any] | None:
    stint = car.stints.current if car is not None else None
    if stint is None:
        return None
    end = et if et is not None else stint.last_line_et
    return {
        "number": stint.number,
        "driver": stint.driver,
        "laps": stint.laps,
        "time": round(max(0.0, end - stint.start_et), 1) if end is not None else None,
    }


def _progress(row: dict[str, Any], track_length: float) -> int | None:
    """Tenths of the lap done (0..10): coarse on purpose, so that a row is not re-sent to every
    viewer each time its car moves (the map shows positions)."""
    distance = _num(row.get("lapDistance"))
    if distance is None or track_length <= 0:
        return None
    return int(min(1.0, max(0.0, distance / track_length)) * 10)


def _sector(row: dict[str, Any]) -> int | None:
    ws = row.get("ws") if type(row.get("ws")) is dict else {}
    current = ws.get("currentSector")
    if type(current) is int and 1 <= current <= 3:
        return current
    sector = row.get("sector")
    if type(sector) is str and sector[-1:] in ("1", "2", "3"):
        return int(sector[-1])
    return None


# --- readers ---------------------------------------------------------------------------------


def _num(value: object) -> float | None:
    return float(value) if type(value) in (int, float) else None  # type: ignore[arg-type]


def _time(value: object) -> float | None:
    """A time the game sent: positive, else None (its -1 sentinel means "none")."""
    number = _num(value)
    return round(number, 3) if number is not None and number > 0 else None


def _diff(end: float | None, start: float | None) -> float | None:
    if end is None or start is None or end <= start:
        return None
    return round(end - start, 3)


def _text(value: object, default: str) -> str:
    return value if type(value) is str and value else default
