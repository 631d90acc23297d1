"""Late data about stops and laps: the game's strategy entries and per-lap usage.

The strategy list shows what the crew did at a stop (fuel, energy, tyres, swap, penalty, the
stationary time) only once the car has completed S1 of its out-lap (a known quirk), so stops are
closed from the pit state and *resolved* later, when their entry appears (`PitServiced`).
Matching: an entry of lap L belongs to the first unresolved stop that began on lap L, or stopped
on lap L, or began on lap L-1 (the box past the line). The 2nd entry of one lap (`"L#2"`) goes to
the next such stop. Start-of-race entries (lap 0) and the game's placeholder entries (no
compound) describe no stop.

Which team list is the car's: the team names in the strategy are not unique (`"Name#2"` keys), so
among lists named like the car's team, the one listing one of the car's drivers wins.

Usage (`/rest/strategy/usage`, per driver and lap) resolves the fuel of laps driven in the
player's own car, whose standings fuel the game reports as full (a known quirk): looked up by
the lap's own driver (not the car's current one, which after a swap is somebody else). Its
`fuel` is a fraction like the standings' (a value above 1 is read as a percentage).
"""

from __future__ import annotations

from typing import Any

from server.tracking.cars import CarRecord
from server.tracking.events import Event, LapUpdated, PitServiced, PitStopRecovered

WHEELS = ("fl", "fr", "rl", "rr")
RECENT_STOPS = 3  # only the last few unresolved stops are matched
USAGE_PATIENCE = 5  # laps a player lap waits for its usage entry


def teams_by_name(strategy: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """`{team name: [its {lap_key: entry} lists]}` (names repeat): built once per observation."""
    index: dict[str, list[dict[str, Any]]] = {}
    for team in strategy.values():
        if type(team) is dict and type(team.get("stops")) is dict:
            index.setdefault(team.get("name"), []).append(team["stops"])
    return index


def team_entries(index: dict[str, list[dict[str, Any]]], car: CarRecord) -> dict[str, Any] | None:
    """The car's own `{lap_key: entry}`: among lists of its team's name, one naming a driver
    of the car (the last such), else the first."""
    lists = index.get(car.team)
    if not lists:
        return None
    if len(lists) == 1:
        return lists[0]
    drivers = car.drivers()
    found = lists[0]
    for stops in lists[1:]:
        if any(type(e) is dict and e.get("driver") in drivers for e in stops.values()):
            found = stops
    return found


def _unresolved(car: CarRecord) -> list:
    return [s for s in car.stops[-RECENT_STOPS:] if s.strategy_lap is None]


def wants_service(car: CarRecord, entries: dict[str, Any]) -> bool:
    """Whether matching could find something new: the entries or the car's stops, laps or
    resolutions changed since it last ran (entries already matched are never looked at again;
    with nothing changed, matching would give what it gave last time)."""
    if len(entries) - 1 <= car.resolved_stops and all(s.strategy_key for s in car.stops):
        return False  # every entry (the start entry aside) has its stop
    stop = car.open_stop
    where = (stop.phase, stop.stop_lap) if stop is not None else None
    seen = (len(entries), len(car.stops), car.resolved_stops, car.laps_done, where)
    if seen == car.service_seen:
        return False
    car.service_seen = seen
    return True


def recovered_stops(
    car: CarRecord, entries: dict[str, Any], et: float, private: bool
) -> list[Event]:
    """Stops only the strategy knows of: an entry no stop took, for a lap the car has left
    (its out-lap's S1 is done when the entry shows) with no unresolved stop that could take it."""
    used = {s.strategy_key for s in car.stops if s.strategy_key is not None}
    waiting = {s.lap for s in car.stops if s.strategy_key is None}
    waiting |= {s.lap + 1 for s in car.stops if s.strategy_key is None}
    waiting |= {s.stop_lap for s in car.stops if s.strategy_key is None}
    out: list[Event] = []
    number = len(car.stops)
    for key, entry in sorted(entries.items(), key=lambda item: _lap_of(item[1])):
        lap = _lap_of(entry)
        if key in used or lap < 1 or lap >= car.laps_done or lap in waiting:
            continue
        if not _describes_stop(entry):
            continue
        number += 1
        out.append(PitStopRecovered(et, car.key, number, lap))
        out.append(_serviced(car, number, key, entry, et, private))
    return out


def _lap_of(entry: object) -> int:
    lap = entry.get("lap") if type(entry) is dict else None
    return lap if type(lap) is int else -1


def service_events(
    car: CarRecord, entries: dict[str, Any], et: float, private: bool
) -> list[PitServiced]:
    """`PitServiced` for stops whose strategy entry has appeared."""
    used = {s.strategy_key for s in car.stops if s.strategy_key is not None}
    out: list[PitServiced] = []
    for stop in _unresolved(car):
        laps = (stop.lap, stop.stop_lap, stop.lap + 1)
        for key, entry in _entries_for(entries, laps):
            if key in used or not _describes_stop(entry):
                continue
            used.add(key)
            out.append(_serviced(car, stop.number, key, entry, et, private))
            break
    return out


def _entries_for(entries: dict[str, Any], laps: tuple[int | None, ...]) -> list[tuple[str, dict]]:
    found = []
    for rank, lap in enumerate(laps):
        if lap is None or lap < 1:
            continue
        base = str(lap)
        keys = [base] + [f"{base}#{n}" for n in range(2, 6)]
        for order, key in enumerate(keys):
            entry = entries.get(key)
            if type(entry) is dict:
                found.append((rank, order, key, entry))
    found.sort(key=lambda item: (item[0], item[1]))
    return [(key, entry) for _, _, key, entry in found]


def _describes_stop(entry: dict[str, Any]) -> bool:
    tyres = entry.get("tyres")
    fl = tyres.get("fl") if type(tyres) is dict else None
    compound = fl.get("compound") if type(fl) is dict else None
    return compound not in (None, "N/A")


def _num(value: object) -> float | None:
    return float(value) if type(value) in (int, float) else None


def _serviced(
    car: CarRecord, stop: int, key: str, entry: dict[str, Any], et: float, private: bool
) -> PitServiced:
    tyres = entry.get("tyres") if type(entry.get("tyres")) is dict else {}
    wheels = [tyres.get(w) if type(tyres.get(w)) is dict else {} for w in WHEELS]
    changed = tuple(w.get("changed") is True for w in wheels)
    compounds = tuple(str(w.get("compound", "")) for w in wheels)
    lap = entry.get("lap")
    return PitServiced(
        et,
        car.key,
        stop,
        strategy_lap=lap if type(lap) is int else -1,
        strategy_key=key,
        service_time=_num(entry.get("time")),
        fuel=_num(entry.get("fuel")) if private or "fuel" in entry else None,
        ve=_num(entry.get("ve")),
        tyres_changed=changed,  # type: ignore[arg-type]
        compounds=compounds if all(compounds) else None,  # type: ignore[arg-type]
        driver_swap=entry.get("driverSwap") is True,
        penalty=entry.get("penalty") is True,
    )


def usage_updates(car: CarRecord, usage: dict[str, Any], et: float) -> list[LapUpdated]:
    """Fuel (and tyre wear) of the player's laps, from the usage rows of each lap's driver."""
    out = []
    for number in car.awaiting_usage:
        lap = car.laps.get(number)
        if lap is None:
            continue
        rows = usage.get(lap.driver)
        row = rows.get(str(number)) if type(rows) is dict else None
        if type(row) is not dict:
            continue
        fuel = _num(row.get("fuel"))
        if fuel is None:
            continue
        changes: dict[str, Any] = {"fuel": round(fuel / 100.0 if fuel > 1.0 else fuel, 4)}
        tyres = row.get("tyres")
        if type(tyres) is list and len(tyres) == 4 and all(_num(t) is not None for t in tyres):
            changes["tyre_wear"] = [float(t) for t in tyres]
        if lap.ve is None and _num(row.get("ve")) is not None:
            changes["ve"] = float(row["ve"])
        out.append(LapUpdated(et, car.key, number, changes))
    return out


def still_waiting(car: CarRecord) -> list[int]:
    """Player laps still waiting for usage (recent ones only)."""
    oldest = car.laps_done - USAGE_PATIENCE
    return [n for n in car.awaiting_usage if n >= oldest and car.laps[n].fuel is None]
