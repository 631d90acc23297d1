"""Team-private data: what only a car's own team sees, and how it is merged into the fed state.

The game shows some facts only to the player's own team: strategy `fuel` and tyre `usage`
per stop, `fuel` and `tyres` per lap in the usage list, and it reports the player's own
`fuelFraction` as a full tank (a known game issue). Every client sees the public facts of all
cars; so the state the tracker gets is the **driving** client's observation with, for each car,
the private parts taken from the freshest observation of a client whose `player` car is that
car (several team members usually watch the same car; the freshest wins).

Merge rules (`merge`), per car whose team has a client in the session:
- strategy: the team's entries (found by the private fields they carry, since team names are
  not unique) get `fuel` and each tyre's `usage` from the team's client; stops only the team's
  client knows are added whole;
- usage: the team's drivers' lap rows (the rows that carry `fuel`/`tyres`) get those fields;
  laps only the team's client knows are added whole;
- the car's `fuelFraction`, where the fed row is the driving client's own car (the full-tank
  quirk), becomes the team's latest known fuel: the newest usage lap or strategy stop that
  carries one (a stop wins a tie: it is the fuel after service). Usage fuel is a fraction in
  the game's answers; a value above 1 is taken as percent.
Other cars' `fuelFraction` as the driving client sees it is live and real and stays.

Pure functions; inputs are never mutated (changed sections are copied).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TYRE_KEYS = ("fl", "fr", "rl", "rr")


@dataclass(frozen=True)
class PrivateParts:
    """One client's team-private data at one ET (for its `player` car)."""

    car: str
    et: float
    strategy: dict[str, dict] = field(default_factory=dict)  # team_key -> team (private only)
    usage: dict[str, dict] = field(default_factory=dict)  # driver -> {lap_key: row} (private)
    fuel: float | None = None  # the team's latest known fuel fraction


def private_parts(
    state: dict[str, Any], car: str | None, et: float, memo: dict | None = None
) -> PrivateParts | None:
    """The private parts of a client's state (None without a player car or private data).

    `memo` (a dict the caller keeps per client) remembers, by object identity, which teams and
    drivers carried private data: the usage list grows by a lap every lap, and the server's
    merge-patched state keeps every unchanged subtree as the same object, so each call only
    looks at what changed instead of every lap of the race (see `server.streams`).
    """
    if car is None:
        return None
    memo = {} if memo is None else memo
    strategy = _private_entries(
        _dict(state.get("strategy")), _team_private, memo.setdefault("strategy", {})
    )
    usage = _private_entries(_dict(state.get("usage")), _laps_private, memo.setdefault("usage", {}))
    sources = (*strategy.values(), *usage.values())
    fuel = _reused(memo, "fuel", sources, lambda: _latest_fuel(strategy, usage))
    if not strategy and not usage and fuel is None:
        return None
    return PrivateParts(car=car, et=et, strategy=strategy, usage=usage, fuel=fuel)


def _private_entries(section: dict, is_private: Any, seen: dict) -> dict[str, dict]:
    """The entries of `section` that carry private data; `seen`: the verdicts by entry."""
    out = {
        key: value
        for key, value in section.items()
        if _reused(seen, key, (value,), lambda v=value: type(v) is dict and is_private(v))
    }
    if len(seen) > len(section):
        for key in [k for k in seen if k not in section]:
            del seen[key]
    return out


def _team_private(team: dict) -> bool:
    return any(_stop_private(s) for s in _dict(team.get("stops")).values())


def _laps_private(laps: dict) -> bool:
    return any(_row_private(r) for r in laps.values())


def _reused(memo: dict, key: str, inputs: tuple, compute: Any) -> Any:
    """`compute()`, or what it gave last time for `key` when `inputs` are the same objects."""
    last = memo.get(key)
    if last is not None and _same(last[0], inputs):
        return last[1]
    result = compute()
    memo[key] = (inputs, result)
    return result


def _same(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


def freshest_by_car(parts: list[PrivateParts]) -> dict[str, PrivateParts]:
    """Per car, the parts of the freshest observation (several teammates watch one car)."""
    best: dict[str, PrivateParts] = {}
    for part in parts:
        if part.car not in best or part.et > best[part.car].et:
            best[part.car] = part
    return best


def merge(
    state: dict[str, Any], parts: list[PrivateParts], memo: dict | None = None
) -> dict[str, Any]:
    """The driving state with every car's private parts from its own team (module docstring).

    `memo` (a dict the caller keeps per session) keeps each team's and driver's merged entry
    while both of its inputs are the same objects, so a merge costs what changed, not the race.
    """
    chosen = freshest_by_car(parts)
    if not chosen:
        return state
    memo = {} if memo is None else memo
    teams_memo = memo.setdefault("teams", {})
    laps_memo = memo.setdefault("laps", {})
    merged = dict(state)
    strategy = dict(_dict(state.get("strategy")))
    usage = dict(_dict(state.get("usage")))
    cars = dict(_dict(state.get("cars")))
    for part in chosen.values():
        for team_key, team in part.strategy.items():
            public = strategy.get(team_key)
            strategy[team_key] = _reused(
                teams_memo, team_key, (public, team), lambda p=public, t=team: _merge_team(p, t)
            )
        for driver, laps in part.usage.items():
            public = usage.get(driver)
            usage[driver] = _reused(
                laps_memo, driver, (public, laps), lambda p=public, v=laps: _merge_laps(p, v)
            )
        row = cars.get(part.car)
        if type(row) is dict and row.get("player") is True and part.fuel is not None:
            cars[part.car] = {**row, "fuelFraction": part.fuel}
    for name, section in (("strategy", strategy), ("usage", usage), ("cars", cars)):
        if section:
            merged[name] = section
    return merged


# --- helpers -------------------------------------------------------------------------------


def _dict(value: object) -> dict:
    return value if type(value) is dict else {}


def _stop_private(stop: object) -> bool:
    if type(stop) is not dict:
        return False
    if "fuel" in stop:
        return True
    return any("usage" in _dict(tyre) for tyre in _dict(stop.get("tyres")).values())


def _row_private(row: object) -> bool:
    return type(row) is dict and ("fuel" in row or "tyres" in row)


def _fraction(value: object) -> float | None:
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        return None
    return float(value) / 100.0 if value > 1.0 else float(value)


def _latest_fuel(strategy: dict[str, dict], usage: dict[str, dict]) -> float | None:
    """The fuel of the newest lap (usage) or stop (strategy) that carries one."""
    best: tuple[int, int, float] | None = None  # (lap, stop wins a tie, fuel)
    for laps in usage.values():
        for row in laps.values():
            fuel = _fraction(row.get("fuel")) if type(row) is dict else None
            if fuel is not None and type(row.get("lap")) is int:
                best = max(best or (row["lap"], 0, fuel), (row["lap"], 0, fuel))
    for team in strategy.values():
        for stop in _dict(team.get("stops")).values():
            fuel = _fraction(stop.get("fuel")) if type(stop) is dict else None
            if fuel is not None and type(stop.get("lap")) is int:
                best = max(best or (stop["lap"], 1, fuel), (stop["lap"], 1, fuel))
    return best[2] if best is not None else None


def _merge_team(public: object, private: dict) -> dict:
    if type(public) is not dict:
        return private
    stops = dict(_dict(public.get("stops")))
    for lap_key, stop in _dict(private.get("stops")).items():
        stops[lap_key] = _merge_stop(stops.get(lap_key), stop)
    return {**public, "stops": stops}


def _merge_stop(public: object, private: object) -> object:
    if type(public) is not dict or type(private) is not dict:
        return private
    stop = dict(public)
    if "fuel" in private:
        stop["fuel"] = private["fuel"]
    private_tyres = _dict(private.get("tyres"))
    if private_tyres:
        tyres = dict(_dict(public.get("tyres")))
        for wheel in TYRE_KEYS:
            theirs = _dict(private_tyres.get(wheel))
            if "usage" in theirs:
                base = _dict(tyres.get(wheel)) or theirs
                tyres[wheel] = {**base, "usage": theirs["usage"]}
        stop["tyres"] = tyres
    return stop


def _merge_laps(public: object, private: dict) -> dict:
    laps = dict(_dict(public))
    for lap_key, row in private.items():
        mine = laps.get(lap_key)
        if type(mine) is dict and type(row) is dict:
            laps[lap_key] = {**mine, **{k: row[k] for k in ("fuel", "tyres") if k in row}}
        else:
            laps[lap_key] = row
    return laps
