"""Small pure readers shared by the car, map, feed and entries views: who a car is, its class.

The state's car rows are the game's standings rows (plus `ws`, the websocket row); the tracker's
`CarRecord` knows the same car from the events. These helpers read either, so a view works with
a live state, with only a tracker (after a restart, or a stored session), or with both.
"""

from __future__ import annotations

from typing import Any

from web.render import slug

CLASS_IDS = {
    "hyper": "hy",
    "lmp2": "p2",
    "lmp2_elms": "p2e",
    "lmp3": "p3",
    "gte": "gte",
    "gt3": "gt3",
}
CLASS_ORDER = ("hy", "p2", "p2e", "p3", "gte", "gt3", "x")  # "x": unknown (as the session view)
STATUS_NAMES = {
    "FSTAT_FINISHED": "Fin",
    "FSTAT_CHECKERED": "Chk",
    "FSTAT_DNF": "DNF",
    "FSTAT_DQ": "DQ",
}
PIT_STATES = {"NONE": "Run", "REQUEST": "Req", "ENTERING": "In", "STOPPED": "Pit", "EXITING": "Out"}


def class_id(car_class: object) -> str:
    """The short id of a car class for CSS classes (`cl-hy`), "x" when unknown."""
    if not isinstance(car_class, str):
        return "x"
    return CLASS_IDS.get(car_class.strip().lower(), "x")


def class_rank(car_class: object) -> tuple[int, str]:
    """Sort key that lists classes fastest first (Hyper, LMP2, ..., GT3, others by name)."""
    cid = class_id(car_class)
    return (CLASS_ORDER.index(cid), str(car_class or ""))


def state_cars(state: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The car rows of a client state (key -> row), {} when there is none."""
    if not isinstance(state, dict):
        return {}
    cars = state.get("cars")
    if not isinstance(cars, dict):
        return {}
    return {k: v for k, v in cars.items() if isinstance(k, str) and isinstance(v, dict)}


def text(value: object, default: str = "") -> str:
    return value if isinstance(value, str) else default


def number(value: object) -> float | None:
    """A finite number the game sent, else None (negative sentinels are kept: callers decide)."""
    if type(value) in (int, float):
        return float(value)  # type: ignore[arg-type]
    return None


def status_code(row: dict[str, Any] | None, record: Any = None) -> str:
    """Run / Req / In / Pit / Out / Gar / Fin / Chk / DNF / DQ, from the row or the tracker."""
    finish = text((row or {}).get("finishStatus")) or text(getattr(record, "finish_status", ""))
    if finish in STATUS_NAMES:
        return STATUS_NAMES[finish]
    if row is not None:
        if row.get("inGarageStall") is True:
            return "Gar"
        return PIT_STATES.get(text(row.get("pitState"), "NONE"), "Run")
    if record is not None:
        if record.in_garage:
            return "Gar"
        if record.open_stop is not None:
            return "Pit"
    return "Run"


def identity(key: str, row: dict[str, Any] | None, record: Any = None) -> dict[str, Any]:
    """Who a car is: number, team, vehicle, class, driver; from the state row, else the tracker."""
    row = row or {}
    car_class = text(row.get("carClass")) or text(getattr(record, "car_class", ""))
    team = (
        text(row.get("fullTeamName"))
        or text(getattr(record, "team", ""))
        or text(row.get("vehicleName"))
    )
    return {
        "key": key,
        "slug": slug(key),
        "number": text(row.get("carNumber")) or text(getattr(record, "number", "")),
        "team": team,
        "vehicle": text(row.get("vehicleName")) or text(getattr(record, "vehicle_name", "")),
        "vehicle_file": text(row.get("vehicleFilename")) or text(getattr(record, "vehicle", "")),
        "car_class": car_class,
        "class_id": class_id(car_class),
        "driver": text(row.get("driverName")) or text(getattr(record, "driver", "")),
    }


def label(ident: dict[str, Any]) -> str:
    """ "#7 Team Name" (what the feed lines call a car)."""
    return f"#{ident['number']} {ident['team']}".strip() if ident["number"] else ident["team"]


def team_entries(state: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The `teams.teams` section (unique team id -> team), {} when absent."""
    teams = state.get("teams") if isinstance(state, dict) else None
    inner = teams.get("teams") if isinstance(teams, dict) else None
    if not isinstance(inner, dict):
        return {}
    return {k: v for k, v in inner.items() if isinstance(v, dict)}


def team_people(state: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The `teams.drivers` section (person name -> badge, nationality, roles, team, connected)."""
    teams = state.get("teams") if isinstance(state, dict) else None
    people = teams.get("drivers") if isinstance(teams, dict) else None
    if not isinstance(people, dict):
        return {}
    return {k: v for k, v in people.items() if isinstance(k, str) and isinstance(v, dict)}


def car_of_team(team: dict[str, Any], cars: dict[str, dict[str, Any]]) -> str | None:
    """The car key a team entry drives: same .VEH file and number, else the same team name."""
    vehicle, number_ = text(team.get("vehicle")), text(team.get("carNumber"))
    for key, row in cars.items():
        if row.get("vehicleFilename") == vehicle and text(row.get("carNumber")) == number_:
            return key
    name = text(team.get("name"))
    for key, row in cars.items():
        if name and row.get("fullTeamName") == name:
            return key
    return None


def sender_names(name: str) -> list[str]:
    """The forms the game may shorten a member's name to in chat: "Foo Bar Baz" -> "F Bar Baz",
    "F Baz", "F B Baz"; each also cut to 15 characters (the game truncates long names)."""
    parts = name.split()
    if len(parts) < 2:
        return [name] if name else []
    initial = parts[0][0].upper()
    forms = [f"{initial} {' '.join(parts[i:])}" for i in range(1, len(parts))]
    if len(parts) > 2:
        forms.append(f"{initial} {' '.join(p[0].upper() for p in parts[1:-1])} {parts[-1]}")
    out: list[str] = []
    for form in forms + [f[:15] for f in forms]:
        if form not in out:
            out.append(form)
    return out
