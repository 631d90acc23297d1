"""A recorded car's entry: class, number, team, members and the ids the game shows.

Ids the recording lacks are derived stably from what it has (a SHA-1 car id from vehicle,
number and team; Steam ids from driver names), so a replay shows the same ids every time.
Hosted sessions (smallest SlotId > 0): standings slots count from 0, team-list keys keep the
recorded slot (`Entry.team_slot`).
"""

from __future__ import annotations

import hashlib
import sqlite3

from sim.script import CAR_CLASSES, Entry, Member

STEAM_BASE = 76561197960265728  # first individual Steam64 id


def build_entry(
    car: sqlite3.Row, offset: int, team: sqlite3.Row | None, rows: list[sqlite3.Row]
) -> Entry:
    slot = int(car["SlotId"])
    cls = car["Class"] if car["Class"] in CAR_CLASSES else "GT3"
    number = car["Number"] if car["Number"] is not None else (team["Number"] if team else "0")
    members = []
    for m in rows:
        roles = tuple(
            role
            for flag, role in (
                ("IsDriver", "Driver"),
                ("IsEngineer", "Race Engineer"),
                ("IsAdmin", "Admin"),
            )
            if m[flag]
        )
        if m["Name"]:
            members.append(
                Member(
                    name=m["Name"],
                    badge=m["Badge"] or "none",
                    nationality=m["Nationality"] or "",
                    roles=roles or ("Driver",),
                )
            )
    car_id = (
        car["Id"] if _is_hex40(car["Id"]) else _hash40(car["Veh"], number, car["TeamName"] or "")
    )
    return Entry(
        slot_id=slot - offset if offset > 0 else slot,
        vehicle_file=car["Veh"],
        vehicle_name=car["VehicleName"] or car["Veh"],
        team_name=car["TeamName"] or (team["Name"] if team else car["Veh"]),
        car_class=cls,
        car_number=str(number),
        car_id=car_id,
        team_id=str(team["Id"]) if team is not None else "",
        team_slot=slot if offset > 0 else None,
        members=members,
    )


def _is_hex40(value: str | None) -> bool:
    return bool(value) and len(value) == 40 and all(ch in "0123456789abcdefABCDEF" for ch in value)  # type: ignore[arg-type]


def _hash40(*parts: str) -> str:
    return hashlib.sha1("|".join(parts).encode()).hexdigest()


def steam_id(name: str) -> int:
    return STEAM_BASE + int(hashlib.sha1(name.encode()).hexdigest()[:8], 16)
