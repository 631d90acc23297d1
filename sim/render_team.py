"""Team documents: the multiplayer entry list, strategy per team and usage per driver.

Strategy and usage mix shared facts (stops, drivers, compounds, virtual energy) with private ones
(fuel, tyre wear) that the game shows only to the viewpoint's own team.
"""

from __future__ import annotations

import zlib

from sim.render_base import EMPTY, Scene, f
from sim.script import Lap, PitVisit, Tyres
from sim.snapshot import CarLive

ADMIN_NAME = "Admin"
WHEELS = ("fl", "fr", "rl", "rr")


def _team_id(entry) -> str:
    return entry.team_id or str(entry.utid)


def multiplayer_teams(scene: Scene) -> object:
    """/rest/multiplayer/teams: the entry list online, the literal `null` offline."""
    if not scene.in_session or not scene.online:
        return None
    script = scene.live.script
    drivers: dict[str, dict] = {
        ADMIN_NAME: {"isConnected": True, "nationality": "", "roles": ["Admin"]}
    }
    teams: dict[str, dict] = {}
    for car in sorted(script.cars, key=lambda c: c.entry.slot_id):
        entry = car.entry
        utid = f"utid{entry.utid}"
        members = {
            m.name: {"badge": m.badge, "nationality": m.nationality, "roles": list(m.roles)}
            for m in entry.members
        }
        for m in entry.members:
            drivers[m.name] = {
                "badge": m.badge,
                "isConnected": True,
                "nationality": m.nationality,
                "roles": list(m.roles),
                "teamId": _team_id(entry),
                "teamName": entry.team_name,
                "uniqueTeamId": utid,
            }
        teams[utid] = {
            "Id": _team_id(entry),
            "carNumber": entry.car_number,
            "drivers": members,
            "name": entry.team_name,
            "vehicle": entry.vehicle_file,
        }
    coherence = zlib.crc32(f"{script.server_name}:{script.track.name}".encode()) & 0x7FFFFFFF
    return {"coherenceId": coherence, "drivers": drivers, "teams": teams}


# --- strategy ----------------------------------------------------------------------------------


def _tyre(changed: bool, compound: str, new: bool, wear: float | None) -> dict:
    tyre = {"changed": changed, "compound": compound, "new": new}
    if wear is not None:
        tyre["usage"] = f(max(0.0, min(100.0, wear)))
    return tyre


def _lap_before(car: CarLive, et: float) -> Lap | None:
    """The last completed lap that ended at or before `et`."""
    found = None
    for lap in car.completed_laps:
        if lap.end_et <= et + 1e-9:
            found = lap
        else:
            break
    return found


def _pit_visible(car: CarLive, pit: PitVisit) -> bool:
    """The game shows a stop once the car has completed S1 of its out-lap (a known quirk)."""
    done = pit.end_et
    for lap in car.completed_laps:
        if lap.start_et + lap.sectors[0] >= done:
            return True
    return car.current_s1 >= 0 and car.lap_start_et + car.current_s1 >= done


def _is_stop(pit: PitVisit) -> bool:
    return pit.stop_et is not None or pit.garage_in_et is not None or pit.penalty_served is not None


def team_strategy(scene: Scene, car: CarLive) -> list[dict]:
    script = car.script
    private = scene.player_team(car)
    compounds: Tyres = script.start_compounds
    new = [True, True, True, True]
    ve = script.start_ve
    driver = script.first_driver or (script.laps[0].driver if script.laps else car.driver)
    first = {
        "driver": driver,
        "driverSwap": False,
        "lap": 0,
        "penalty": False,
        "previousStintDuration": 0.0,
        "time": 0.0,
        "tyres": {
            w: _tyre(False, compounds[i], True, 100.0 if private else None)
            for i, w in enumerate(WHEELS)
        },
        "ve": f(ve if ve is not None else 0.0),
    }
    if private:
        first["fuel"] = f(script.start_fuel)
    entries = [first]
    stint_start = scene.live.script.start_et
    for pit in car.completed_pits:
        if not _is_stop(pit) or not _pit_visible(car, pit):
            continue
        before = _lap_before(car, pit.start_et)
        changed = pit.tyres_changed
        after = pit.compounds_after or compounds
        new = [changed[i] or new[i] for i in range(4)]
        wear_before = before.tyre_wear_end if before is not None else (100.0,) * 4
        if pit.ve_after is not None:
            ve = pit.ve_after
        elif before is not None:
            ve = before.ve_end
        if pit.driver_in:
            driver = pit.driver_in
        elif before is not None:
            driver = before.driver
        stop_at = pit.stop_et if pit.stop_et is not None else pit.start_et
        item = {
            "driver": driver,
            "driverSwap": pit.driver_in is not None,
            "lap": int(pit.lap),
            "penalty": pit.penalty_served is not None,
            "previousStintDuration": f(max(0.0, stop_at - stint_start)),
            "time": f(pit.stationary_time),
            "tyres": {
                w: _tyre(
                    bool(changed[i]),
                    after[i],
                    new[i],
                    (100.0 if changed[i] else wear_before[i]) if private else None,
                )
                for i, w in enumerate(WHEELS)
            },
            "ve": f(min(1.0, max(0.0, ve if ve is not None else 0.0))),
        }
        if private:
            fuel = pit.fuel_after
            if fuel is None:
                fuel = before.fuel_end if before is not None else script.start_fuel
            item["fuel"] = f(min(1.0, max(0.0, fuel)))
        entries.append(item)
        compounds = after
        stint_start = pit.release_et if pit.release_et is not None else pit.end_et
    return entries


def strategy_overall(scene: Scene) -> object:
    """/rest/strategy/overall: races only (else an empty body), `[teamName, [Strategy]]` pairs."""
    if not scene.in_session or not scene.live.script.is_race:
        return EMPTY
    cars = sorted(scene.live.cars, key=lambda c: c.slot_id)
    return [[car.script.entry.team_name, team_strategy(scene, car)] for car in cars]


# --- usage -------------------------------------------------------------------------------------


def _stint_of(car: CarLive, lap_number: int) -> int:
    """Stints start after every stop: laps driven after n stops belong to stint n + 1."""
    return 1 + sum(1 for pit in car.completed_pits if _is_stop(pit) and pit.lap < lap_number)


def strategy_usage(scene: Scene) -> dict:
    """/rest/strategy/usage: driver -> laps, with fuel and tyres only for the player's team."""
    if not scene.in_session:
        return {}
    doc: dict[str, list] = {}
    for car in sorted(scene.live.cars, key=lambda c: c.slot_id):
        private = scene.player_team(car)
        script = car.script
        pit_laps = {pit.lap for pit in car.completed_pits}
        first_driver = script.first_driver or (
            car.completed_laps[0].driver if car.completed_laps else car.driver
        )
        start = {"lap": 0, "pit": False, "stint": 1, "ve": f(script.start_ve or 0.0)}
        if private:
            start["fuel"] = f(script.start_fuel)
            start["tyres"] = [100.0, 100.0, 100.0, 100.0]
        doc.setdefault(first_driver, []).append(start)
        for lap in car.completed_laps:
            item = {
                "lap": int(lap.number),
                "pit": lap.number in pit_laps,
                "stint": _stint_of(car, lap.number),
                "ve": f(min(1.0, max(0.0, lap.ve_end or 0.0))),
            }
            if private:
                item["fuel"] = f(min(1.0, max(0.0, lap.fuel_end)))
                item["tyres"] = [f(min(100.0, max(0.0, w))) for w in lap.tyre_wear_end]
            doc.setdefault(lap.driver, []).append(item)
    return doc
