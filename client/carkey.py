"""The stable key of a car in a session: `"<slotID>-<vehicleFilename>"`.

The game lists cars in position order, so a list index names a different car after every
overtake. The slot id is the car's seat in the session and the vehicle file its livery; together
they stay the same for the whole session (a slot reused by another car gets a new key), and they
are present in both the REST standings (`slotID`, `vehicleFilename`) and the websocket
LiveStandings (`slotID`, `vehFilename`). The team list's `vehicle` sometimes ends in `.veh`,
which the key drops so all three sources agree.
"""

from __future__ import annotations

from collections.abc import Mapping


def car_key(slot_id: int, vehicle_file: str) -> str:
    """`car_key(3, "397_24_MCLAREN") == "3-397_24_MCLAREN"`."""
    if type(slot_id) is not int or slot_id < 0:
        raise ValueError(f"slot id must be an int >= 0, not {slot_id!r}")
    if vehicle_file[-4:].lower() == ".veh":
        vehicle_file = vehicle_file[:-4]
    return f"{slot_id}-{vehicle_file}"


def split_car_key(key: str) -> tuple[int, str]:
    """`(slot_id, vehicle_file)` of a key made by `car_key` (the file may contain '-')."""
    slot, sep, vehicle = key.partition("-")
    if not sep or not slot.isdigit():
        raise ValueError(f"not a car key: {key!r}")
    return int(slot), vehicle


def standing_key(row: Mapping[str, object]) -> str | None:
    """Key of a `/rest/watch/standings` row, or None when it lacks a usable identity."""
    return _key(row.get("slotID"), row.get("vehicleFilename"))


def ws_standing_key(row: Mapping[str, object]) -> str | None:
    """Key of a websocket LiveStandings row, or None when it lacks a usable identity."""
    return _key(row.get("slotID"), row.get("vehFilename"))


def _key(slot: object, vehicle: object) -> str | None:
    if type(slot) is not int or slot < 0 or type(vehicle) is not str:
        return None
    return car_key(slot, vehicle)
