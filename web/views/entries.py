"""Entry list: every car with its team members (roles, badge, nationality), grouped by class.

Members come from the game's multiplayer teams (`state.teams`: per team the car number, .VEH
file and members with badge, nationality and roles; per person whether they are connected).
Offline sessions, and a session loaded after a restart, have no teams section: then the
members are the drivers the tracker saw in the car. Drive time per member comes from the
tracker's stints. People in no team (admins, spectators) are listed apart.
"""

from __future__ import annotations

from typing import Any

from web.render import slug
from web.vehicles import make_model
from web.views.carinfo import (
    car_of_team,
    class_id,
    class_rank,
    identity,
    state_cars,
    team_entries,
    team_people,
    text,
)
from web.views.model import SessionInput

TEMPLATE = "entries.html"
_REGIONAL_A = 0x1F1E6


def flag(code: object) -> str:
    """The flag emoji of a two-letter nationality code ("BE" -> regional indicators), or "".

    In the JSON only: many desktops (Windows, Linux without an emoji font) show the two letters
    as boxes, so the page prints the code."""
    if not isinstance(code, str) or len(code) != 2 or not code.isascii() or not code.isalpha():
        return ""
    return "".join(chr(_REGIONAL_A + ord(c) - ord("A")) for c in code.upper())


def _member(name: str, info: dict[str, Any], people: dict, driving: str, drive: dict) -> dict:
    person = people.get(name, {})
    roles = info.get("roles") if isinstance(info.get("roles"), list) else person.get("roles")
    nationality = text(info.get("nationality")) or text(person.get("nationality"))
    badge = text(info.get("badge")) or text(person.get("badge"))
    connected = person.get("isConnected")
    return {
        "name": name,
        "roles": [r for r in roles or [] if isinstance(r, str)],
        "badge": badge or None,
        "badge_class": slug(badge.lower()) if badge else "none",
        "nationality": nationality or None,
        "flag": flag(nationality),
        "connected": connected if isinstance(connected, bool) else None,
        "driving": name == driving,
        "drive_time": drive.get(name),
    }


def build(inp: SessionInput) -> dict[str, Any]:
    """The entry list view model."""
    cars = state_cars(inp.state)
    tracker = inp.tracker
    records = tracker.cars if tracker is not None else {}
    teams = team_entries(inp.state)
    people = team_people(inp.state)
    team_by_car: dict[str, dict[str, Any]] = {}
    for team in teams.values():
        key = car_of_team(team, cars)
        if key is not None:
            team_by_car[key] = team
    drive_times = tracker.drive_times() if tracker is not None else {}
    entries = []
    in_teams: set[str] = set()
    for key in {*cars, *records}:
        row, record = cars.get(key), records.get(key)
        ident = identity(key, row, record)
        make, model = make_model(ident["vehicle_file"], ident["vehicle"])
        team = team_by_car.get(key)
        drive = drive_times.get(key, {})
        members = []
        if team is not None and isinstance(team.get("drivers"), dict):
            for name, info in team["drivers"].items():
                if isinstance(name, str):
                    in_teams.add(name)
                    members.append(
                        _member(name, info if isinstance(info, dict) else {}, people,
                                ident["driver"], drive)
                    )  # fmt: skip
        else:
            seen = sorted(record.drivers()) if record is not None else [ident["driver"]]
            members = [_member(n, {}, people, ident["driver"], drive) for n in seen if n]
        entries.append(
            {
                **ident,
                "team_name": text((team or {}).get("name")) or ident["team"],
                "make": make,
                "model": model or ident["vehicle"],
                "members": members,
                "from_teams": team is not None,
            }
        )
    entries.sort(key=lambda e: (class_rank(e["car_class"]), _number_key(e["number"]), e["key"]))
    groups: list[dict[str, Any]] = []
    for entry in entries:
        if not groups or groups[-1]["name"] != entry["car_class"]:
            groups.append(
                {"name": entry["car_class"], "class_id": entry["class_id"], "entries": []}
            )
        groups[-1]["entries"].append(entry)
    others = [
        _member(name, {}, people, "", {})
        for name, person in sorted(people.items())
        if name not in in_teams and not person.get("teamId")
    ]
    return {
        "view": "entries",
        "session_id": inp.session_id,
        "track_name": str(inp.meta.get("track") or ""),
        "live": inp.live,
        "cars": len(entries),
        "groups": groups,
        "others": others,
        "class_ids": sorted({class_id(e["car_class"]) for e in entries}),
    }


def _number_key(number: str) -> tuple[int, str]:
    return (int(number), "") if number.isdigit() else (10_000, number)


def parts(model: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [("entries-list", "entries_list", {"model": model})]
