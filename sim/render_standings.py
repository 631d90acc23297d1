"""Per-car documents: REST standings, websocket LiveStandings and the standings history.

The REST standing and the websocket standing describe the same car with different names and
types (pit state string vs int, steamID int vs string, count-lap flag names, cumulative splits
under other keys); both come from one `CarLive`, so they always agree.
"""

from __future__ import annotations

from sim.render_base import Scene, car_phase, f, steam_id, velocity
from sim.script import Lap, SessionScript
from sim.snapshot import PIT_STATES, CarLive, SessionLive

WS_COUNT_LAP_FLAG = {
    "COUNT_LAP_AND_TIME": "CLF_LAP_AND_TIME",
    "COUNT_LAP_ONLY": "CLF_LAP_ONLY",
    "COUNT_NEITHER": "CLF_NONE",
}
# The history's finish status has no FSTAT_FINISHED: a finished car reads CHECKERED there.
HISTORY_FINISH = {"FSTAT_FINISHED": "FSTAT_CHECKERED"}
PLAYER_FUEL_QUIRK = 1.0  # the game reports the player's own car with a full tank


def _in_control(scene: Scene, car: CarLive) -> int:
    """rF2 control: 0 local player, 1 AI, 2 remote human."""
    if scene.player_team(car):
        return 0
    if scene.online and steam_id(car) != 0:
        return 2
    return 1


def _fuel(scene: Scene, car: CarLive) -> float:
    return PLAYER_FUEL_QUIRK if scene.player_team(car) else f(car.fuel)


def standing(scene: Scene, car: CarLive) -> dict:
    entry = car.script.entry
    track = scene.live.script.track
    mine = scene.player_team(car)
    return {
        "attackMode": {"remainingCount": 0, "timeRemaining": 0, "totalCount": 0},
        "bestLapSectorTime1": f(car.best_lap_s1),
        "bestLapSectorTime2": f(car.best_lap_s2),
        "bestLapTime": f(car.best_lap_time),
        "bestSectorTime1": f(car.best_sector1),
        "bestSectorTime2": f(car.best_sector2),
        "carAcceleration": velocity(0.0, 0.0, 0.0, 0.0),
        "carClass": entry.car_class,
        "carId": entry.car_id,
        "carNumber": entry.car_number,
        "carPosition": {"type": -1, "x": f(car.x), "y": f(car.y), "z": f(car.z)},
        "carVelocity": velocity(car.vx, car.vy, car.vz, car.speed),
        "countLapFlag": car.count_lap_flag,
        "currentSectorTime1": f(car.current_s1),
        "currentSectorTime2": f(car.current_s2),
        "driverName": car.driver,
        "drsActive": False,
        "estimatedLapTime": f(car.estimated_lap_time),
        "finishStatus": car.finish_status,
        "flag": car.flag,
        "focus": mine,
        "fuelFraction": _fuel(scene, car),
        "fullTeamName": entry.team_name,
        "gamePhase": car_phase(scene.live.phase),
        "hasFocus": mine,
        "headlights": bool(car.headlights),
        "inControl": _in_control(scene, car),
        "inGarageStall": bool(car.in_garage),
        "lapDistance": f(car.lap_distance),
        "lapStartET": f(car.lap_start_et),
        "lapsBehindClassLeader": int(car.laps_behind_class_leader),
        "lapsBehindLeader": int(car.laps_behind_leader),
        "lapsBehindNext": int(car.laps_behind_next),
        "lapsCompleted": int(car.laps_completed),
        "lastLapTime": _before_first_lap(car, car.last_lap_time),
        "lastSectorTime1": _before_first_lap(car, car.last_s1),
        "lastSectorTime2": _before_first_lap(car, car.last_s2),
        "pathLateral": 0.0,
        "penalties": int(car.penalties),
        "pitGroup": entry.pit_group,
        "pitLapDistance": f((track.pit_box % 1.0) * track.length),
        "pitState": car.pit_state,
        "pitstops": int(car.pitstops),
        "pitting": bool(car.pitting),
        "player": mine,
        "position": int(car.position),
        "qualification": int(car.script.grid_position),
        "sector": f"SECTOR{car.sector}",
        "serverScored": True,
        "slotID": car.slot_id,
        "steamID": steam_id(car),
        "timeBehindClassLeader": f(car.time_behind_class_leader),
        "timeBehindLeader": f(car.time_behind_leader),
        "timeBehindNext": f(car.time_behind_next),
        "timeIntoLap": f(car.time_into_lap),
        "trackEdge": 6.0,
        "underYellow": bool(car.under_yellow),
        "upgradePack": entry.upgrade_pack,
        "veFraction": f(car.virtual_energy if car.virtual_energy is not None else 0.0),
        "vehicleFilename": entry.vehicle_file,
        "vehicleName": entry.vehicle_name,
    }


def standings(scene: Scene) -> list:
    """/rest/watch/standings: `[]` outside a session."""
    if not scene.in_session:
        return []
    return [standing(scene, car) for car in scene.live.cars]


def _gap_text(laps: int, seconds: float) -> str:
    """The game's short gap text: laps when lapped, else seconds."""
    if laps > 0:
        return f"+{laps} L" if laps == 1 else f"+{laps} Laps"
    if seconds <= 0:
        return ""
    return f"+{seconds:.3f}"


def _ws_sector(sector: int) -> int:
    """rF2 sector numbering: 1 = S1, 2 = S2, 0 = S3."""
    return sector % 3


def _calculated_race_laps(live: SessionLive, car: CarLive) -> float:
    if car.estimated_lap_time <= 0:
        return f(car.laps_completed)
    return f(car.laps_completed + max(0.0, live.time_remaining) / car.estimated_lap_time)


def ws_standing(scene: Scene, car: CarLive) -> dict:
    entry = car.script.entry
    live = scene.live
    mine = scene.player_team(car)
    number = entry.car_number if entry.car_number.isdigit() and len(entry.car_number) <= 3 else "0"
    kinds = car.penalty_kinds or {}
    ve = car.virtual_energy
    return {
        "bestIndividualTimeSector1": f(car.best_sector1),
        "bestIndividualTimeSector2": f(car.best_sector2),
        "bestLapTime": f(car.best_lap_time),
        "bestLapTimeS1": f(car.best_lap_s1),
        "bestLapTimeS2": f(car.best_lap_s2),
        "calculatedRaceLaps": _calculated_race_laps(live, car),
        "compoundNames": list(car.compounds),
        "countLapFlag": WS_COUNT_LAP_FLAG.get(car.count_lap_flag, "CLF_LAP_AND_TIME"),
        "currentLapTimeS1": f(car.current_s1),
        "currentLapTimeS2": f(car.current_s2),
        "currentLapsCompleted": int(car.laps_completed),
        "currentSector": _ws_sector(car.sector),
        "dlcAppID": 0,
        "driverName": car.driver,
        "finishStatus": car.finish_status,
        "gapToClassLeader": _gap_text(car.laps_behind_class_leader, car.time_behind_class_leader),
        "gapToRelativeTxt": _gap_text(car.laps_behind_next, car.time_behind_next),
        "inGarage": bool(car.in_garage),
        "inPits": bool(car.pitting),
        "lapDist": f(car.lap_distance),
        "lapsBehindLeader": int(car.laps_behind_leader),
        "lapsBehindNext": int(car.laps_behind_next),
        "lastLapTime": _before_first_lap(car, car.last_lap_time),
        "lastLapTimeS1": _before_first_lap(car, car.last_s1),
        "lastLapTimeS2": _before_first_lap(car, car.last_s2),
        "localVelX": 0.0,
        "localVelY": 0.0,
        "localVelZ": f(-car.speed),
        "numPitstops": int(car.pitstops),
        "penalties": {
            "DT": int(kinds.get("DT", 0)),
            "SG": int(kinds.get("SG", 0)),
            "TIME": int(kinds.get("TIME", 0)),
        },
        "pitState": PIT_STATES.index(car.pit_state) if car.pit_state in PIT_STATES else 0,
        "player": mine,
        "posX": f(car.x),
        "posY": f(car.y),
        "posZ": f(car.z),
        "position": int(car.position),
        "qualiPosition": int(car.script.grid_position),
        "slotHasFocus": mine,
        "slotID": car.slot_id,
        "steamID": str(steam_id(car)),
        "teamName": entry.team_name,
        "timeBehindLeader": f(car.time_behind_leader),
        "timeBehindNext": f(car.time_behind_next),
        "timeIntoLap": f(car.time_into_lap),
        "tireCompoundNameFront": car.compounds[0],
        "tireCompoundNameRear": car.compounds[2],
        "totalRaceTime": f(max(0.0, car.total_race_time)),
        "vehFilename": entry.vehicle_file,
        "vehOwned": mine,
        "vehicleClass": entry.car_class,
        "vehicleName": entry.vehicle_name,
        "vehicleNumber": number,
        "virtualEnergy": None if ve is None else f(max(0.0, min(100.0, ve * 100.0))),
    }


def live_standings(scene: Scene) -> list | None:
    """Websocket LiveStandings body (None: nothing to push)."""
    if not scene.in_session:
        return None
    return [ws_standing(scene, car) for car in scene.live.cars]


# --- standings history -------------------------------------------------------------------------

_positions_cache: dict[int, tuple[SessionScript, dict[tuple[int, int], int]]] = {}


def line_positions(script: SessionScript) -> dict[tuple[int, int], int]:
    """(slot, lap number) -> overall position when the car crossed the line.

    A lap whose script gives no position (0) is ranked by the order in which the cars finished
    that lap number: lapped cars have not completed it yet, so the order is the race order.
    """
    cached = _positions_cache.get(id(script))
    if cached is not None and cached[0] is script:
        return cached[1]
    by_lap: dict[int, list[tuple[float, int]]] = {}
    for car in script.cars:
        for lap in car.laps:
            by_lap.setdefault(lap.number, []).append((lap.end_et, car.entry.slot_id))
    table: dict[tuple[int, int], int] = {}
    for number, crossings in by_lap.items():
        for rank, (_, slot) in enumerate(sorted(crossings), start=1):
            table[(slot, number)] = rank
    if len(_positions_cache) > 16:
        _positions_cache.clear()
    _positions_cache[id(script)] = (script, table)
    return table


def _cumulative(lap: Lap) -> tuple[float, float]:
    s1, s2, _ = lap.sector_times
    first = f(s1) if s1 >= 0 else -1.0
    second = f(s1 + s2) if s1 >= 0 and s2 >= 0 else -1.0
    return first, second


def _history_lap(car: CarLive, lap: Lap, position: int, pitting: bool) -> dict:
    entry = car.script.entry
    s1, s2 = _cumulative(lap)
    return {
        "carClass": entry.car_class,
        "driverName": lap.driver,
        "finishStatus": "FSTAT_NONE",
        "lapTime": f(lap.lap_time) if lap.lap_time >= 0 else -1.0,
        "pitting": pitting,
        "position": position,
        "sectorTime1": s1,
        "sectorTime2": s2,
        "slotID": car.slot_id,
        "totalLaps": lap.number,
        "vehicleName": entry.vehicle_name,
    }


def standings_history(scene: Scene) -> object:
    """/rest/watch/standings/history: slot id strings -> completed laps plus the current lap."""
    if not scene.in_session:
        return {}
    live = scene.live
    positions = line_positions(live.script)
    doc: dict[str, list] = {}
    for car in sorted(live.cars, key=lambda c: c.slot_id):
        pit_laps = {pit.lap for pit in car.completed_pits}
        laps = [
            _history_lap(
                car, lap, positions.get((car.slot_id, lap.number), -1) or -1, lap.number in pit_laps
            )
            for lap in car.completed_laps
        ]
        laps.append(
            {
                "carClass": car.script.entry.car_class,
                "driverName": car.driver,
                "finishStatus": HISTORY_FINISH.get(car.finish_status, car.finish_status),
                "lapTime": -1.0,
                "pitting": bool(car.pitting),
                "position": int(car.position),
                "sectorTime1": f(car.current_s1) if car.current_s1 >= 0 else -1.0,
                "sectorTime2": f(car.current_s2) if car.current_s2 >= 0 else -1.0,
                "slotID": car.slot_id,
                "totalLaps": int(car.laps_completed),
                "vehicleName": car.script.entry.vehicle_name,
            }
        )
        doc[str(car.slot_id)] = laps
    return doc


def _before_first_lap(car: CarLive, value: float) -> float:
    """The game shows 0 (not -1) as the last lap and its splits until a car completes a lap."""
    return 0.0 if car.laps_completed == 0 else f(value)
