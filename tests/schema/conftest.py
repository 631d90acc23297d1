"""Hand-written minimal valid LMU documents, shaped like the game's responses (client.md 1.4).

Each call of `example(name)` builds a fresh document, so tests may mutate it freely.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
CAPTURES = SHARED / "reference" / "lmu-captures"


def _velocity(v: float = 0.0) -> dict:
    return {"velocity": v, "x": 0.0, "y": 0.0, "z": v}


def session_info_body(game_phase: object) -> dict:
    return {
        "ambientTemp": 24.5,
        "averagePathWetness": 0.0,
        "currentEventTime": 1234.56,
        "darkCloud": 0.0,
        "endEventTime": 3000.0,
        "gameMode": "UNKNOWN",
        "gamePhase": game_phase,
        "inRealtime": True,
        "lapDistance": 3083.313,
        "maxPathWetness": 0.0,
        "maxPlayers": 38,
        "maxTime": 3000.0,
        "maximumLaps": 4294967295,
        "minPathWetness": 0.0,
        "numRedLights": 5,
        "numberOfPlayers": 16,
        "numberOfVehicles": 14,
        "passwordProtected": False,
        "playerFileName": "Settings",
        "playerName": "Ada Lovegood",
        "raceCompletion": {"timeCompletion": 0.41},
        "raining": 0.0,
        "sectorFlag": ["UNKNOWN", "UNKNOWN", "UNKNOWN"],
        "serverName": "Team Endurance Cup",
        "serverPort": 36116,
        "session": "RACE1",
        "startEventTime": 63.0,
        "startLightFrame": 0,
        "timeRemainingInGamePhase": 1765.44,
        "trackName": "Sebring School Circuit",
        "trackTemp": 31.2,
        "windSpeed": _velocity(),
        "yellowFlagState": "NONE",
    }


def standing(slot: int = 0) -> dict:
    """A GT3 on its 19th lap at Sebring School, in sector 2."""
    return {
        "attackMode": {"remainingCount": 0, "timeRemaining": 0, "totalCount": 0},
        "bestLapSectorTime1": 21.874,
        "bestLapSectorTime2": 43.502,
        "bestLapTime": 65.913,
        "bestSectorTime1": 21.8,
        "bestSectorTime2": 43.39,
        "carAcceleration": _velocity(0.4),
        "carClass": "GT3",
        "carId": "5f0c3a9d2e7b41c88a6d0b9e4f1a2c3d4e5f6a7b",
        "carNumber": "04",
        "carPosition": {"type": -1, "x": 112.5, "y": -1.2, "z": -208.75},
        "carVelocity": _velocity(48.2),
        "countLapFlag": "COUNT_LAP_AND_TIME",
        "currentSectorTime1": 22.013,
        "currentSectorTime2": -1.0,
        "driverName": "Ada Lovegood",
        "drsActive": False,
        "estimatedLapTime": 66.1,
        "finishStatus": "FSTAT_NONE",
        "flag": "GREEN",
        "focus": False,
        "fuelFraction": 0.706,
        "fullTeamName": "McLaren GT3 #04",
        "gamePhase": "GREEN",
        "hasFocus": False,
        "headlights": False,
        "inControl": 2,
        "inGarageStall": False,
        "lapDistance": 1512.4,
        "lapStartET": 1201.3,
        "lapsBehindClassLeader": 0,
        "lapsBehindLeader": 0,
        "lapsBehindNext": 0,
        "lapsCompleted": 18,
        "lastLapTime": 66.402,
        "lastSectorTime1": 22.1,
        "lastSectorTime2": 43.9,
        "pathLateral": -1.75,
        "penalties": 0,
        "pitGroup": "Group4",
        "pitLapDistance": 2950.0,
        "pitState": "NONE",
        "pitstops": 1,
        "pitting": False,
        "player": slot == 0,
        "position": slot + 1,
        "qualification": slot + 1,
        "sector": "SECTOR2",
        "serverScored": True,
        "slotID": slot,
        "steamID": 76561198000000000 + slot,
        "timeBehindClassLeader": 0.0,
        "timeBehindLeader": 0.0,
        "timeBehindNext": 0.0,
        "timeIntoLap": 33.26,
        "trackEdge": 5.2,
        "underYellow": False,
        "upgradePack": "84100400000000000000000000000000",
        "veFraction": 0.871,
        "vehicleFilename": "397_24_MCLAREN",
        "vehicleName": "McLaren GT3 #04",
    }


def ws_standing(slot: int = 0) -> dict:
    return {
        "bestIndividualTimeSector1": 21.8,
        "bestIndividualTimeSector2": 21.59,
        "bestLapTime": 65.913,
        "bestLapTimeS1": 21.874,
        "bestLapTimeS2": 43.502,
        "calculatedRaceLaps": 45.0,
        "compoundNames": ["Medium", "Medium", "Medium", "Medium"],
        "countLapFlag": "CLF_LAP_AND_TIME",
        "currentLapTimeS1": 22.013,
        "currentLapTimeS2": -1.0,
        "currentLapsCompleted": 18,
        "currentSector": 1,
        "dlcAppID": 0,
        "driverName": "Ada Lovegood",
        "finishStatus": "FSTAT_NONE",
        "gapToClassLeader": "",
        "gapToRelativeTxt": "-1.204",
        "inGarage": False,
        "inPits": False,
        "lapDist": 1512.4,
        "lapsBehindLeader": 0,
        "lapsBehindNext": 0,
        "lastLapTime": 66.402,
        "lastLapTimeS1": 22.1,
        "lastLapTimeS2": 43.9,
        "localVelX": 0.1,
        "localVelY": 0.0,
        "localVelZ": -48.2,
        "numPitstops": 1,
        "penalties": {"DT": 0, "SG": 0, "TIME": 0},
        "pitState": 0,
        "player": slot == 0,
        "posX": 112.5,
        "posY": -1.2,
        "posZ": -208.75,
        "position": slot + 1,
        "qualiPosition": -1,
        "slotHasFocus": False,
        "slotID": slot,
        "steamID": str(76561198000000000 + slot),
        "teamName": "McLaren GT3 #04",
        "timeBehindLeader": 0.0,
        "timeBehindNext": 0.0,
        "timeIntoLap": 33.26,
        "tireCompoundNameFront": "Medium",
        "tireCompoundNameRear": "Medium",
        "totalRaceTime": 1234.5,
        "vehFilename": "397_24_MCLAREN",
        "vehOwned": True,
        "vehicleClass": "GT3",
        "vehicleName": "McLaren GT3 #04",
        "vehicleNumber": "04",
        "virtualEnergy": 87.1,
    }


def _tyre(compound: str = "Medium", **extra: object) -> dict:
    return {"changed": False, "compound": compound, "new": True, **extra}


def _strategy(lap: int, player: bool) -> dict:
    entry = {
        "driver": "Ada Lovegood",
        "driverSwap": lap > 0,
        "lap": lap,
        "penalty": False,
        "previousStintDuration": 0.0 if lap == 0 else 287.4,
        "time": 0.0 if lap == 0 else 14.2,
        "tyres": {
            w: _tyre(**({"usage": 97.5} if player else {})) for w in ("fl", "fr", "rl", "rr")
        },
        "ve": 1.0 if lap == 0 else 0.31,
    }
    if player:
        entry["fuel"] = 0.64
    return entry


EXAMPLES: dict[str, Callable[[], object]] = {
    "sessionInfo": lambda: session_info_body(5),
    "standings": lambda: [standing(0), standing(1)],
    "standings@1.2": lambda: [
        {
            **{
                k: v
                for k, v in standing(0).items()
                if k not in ("lapsBehindClassLeader", "timeBehindClassLeader", "veFraction")
            },
            "inControl": 3,
        }
    ],
    "standingsHistory": lambda: {
        "0": [
            {
                "carClass": "GT3",
                "driverName": "Ada Lovegood",
                "finishStatus": "FSTAT_NONE",
                "lapTime": 66.402,
                "pitting": False,
                "position": 1,
                "sectorTime1": 22.1,
                "sectorTime2": 21.8,
                "slotID": 0,
                "totalLaps": 18,
                "vehicleName": "McLaren GT3 #04",
            }
        ],
        "1": [],
    },
    "trackmap": lambda: [
        {"type": 0, "x": 348.3, "y": -1.41, "z": -212.59},
        {"type": 1, "x": 340.1, "y": -1.40, "z": -220.0},
        {"type": 106, "x": 330.0, "y": -1.40, "z": -225.0},
    ],
    "gameState": lambda: {
        "MultiStintState": "DRIVING",
        "PitEntryDist": 2950.0,
        "PitState": "EXITING",
        "closeestWeatherNode": {
            "Duration": 0,
            "Humidity": 84,
            "RainChance": 0,
            "Sky": 1,
            "StartTime": 0,
            "Temperature": 18,
            "WindDirection": 2,
            "WindSpeed": 2,
        },
        "exitGarageState": "None",
        "gamePhase": "GPHASE_GREEN",
        "haveILoadedAllMyTiresYet": True,
        "inControlOfVehicle": True,
        "inMonitor": False,
        "isReplayActive": False,
        "playerVehicleLoaded": True,
        "raceFinished": False,
        "teamVehicleState": "IN CONTROL",
        "timeOfDay": 29115.04,
    },
    "sessionsInfoForEvent": lambda: {
        "scheduledSessions": [
            {"airTemp": 20, "lengthTime": 55, "name": "PRACTICE", "rainChance": 0},
            {"airTemp": 21, "name": "RACE", "rainChance": 10},
        ]
    },
    "multiplayerTeams": lambda: {
        "coherenceId": 7,
        "drivers": {
            "Admin": {"isConnected": True, "nationality": "", "roles": ["Admin"]},
            "Ada Lovegood": {
                "badge": "sr-clean",
                "isConnected": True,
                "nationality": "GB",
                "roles": ["Driver", "Race Engineer"],
                "teamId": "0b6f2c4e-8a1d-4e3f-9c2b-7d5a1e0f3b6c",
                "teamName": "McLaren GT3 #04",
                "uniqueTeamId": "utid0",
            },
        },
        "teams": {
            "utid0": {
                "Id": "0b6f2c4e-8a1d-4e3f-9c2b-7d5a1e0f3b6c",
                "carNumber": "04",
                "drivers": {
                    "Ada Lovegood": {
                        "badge": "sr-clean",
                        "nationality": "GB",
                        "roles": ["Driver", "Race Engineer"],
                    }
                },
                "name": "McLaren GT3 #04",
                "vehicle": "397_24_MCLAREN.veh",
            },
            "utid1": {
                "Id": "1234567",
                "carNumber": "93",
                "drivers": None,
                "name": "Porsche Hypercar #93",
                "vehicle": "397_25_963",
            },
        },
    },
    "joinState": lambda: "JOIN_JOINED_SERVER",
    "chat": lambda: [
        {"message": "A Lovegood: box this lap", "timestamp": 17730571110904992},
        {"message": "E Dean: copy", "timestamp": 17730571230000000},
    ],
    "strategyOverall": lambda: [
        ["McLaren GT3 #04", [_strategy(0, True), _strategy(23, True)]],
        ["United Autosports", [_strategy(0, False)]],
        ["United Autosports", []],
    ],
    "strategyUsage": lambda: {
        "Ada Lovegood": [
            {
                "fuel": 0.904,
                "lap": 0,
                "pit": False,
                "stint": 1,
                "tyres": [100, 100, 100, 100],
                "ve": 1.0,
            },
            {"lap": 1, "pit": False, "stint": 1, "ve": 0.953},
        ],
        "E Dean": None,
    },
    "navigationState": lambda: {"settingMode": "SETTING_DRIVING"},
    "wsSubscribe": lambda: {"messageType": "SUB", "topic": "LiveStandings"},
    "wsLiveStandings": lambda: {
        "messageType": "UPDATE",
        "topic": "LiveStandings",
        "body": [ws_standing(0), ws_standing(1)],
    },
    "wsSessionInfo": lambda: {
        "messageType": "UPDATE",
        "topic": "SessionInfo",
        "body": session_info_body("GREEN"),
    },
}


@pytest.fixture
def example() -> Callable[[str], object]:
    """example(name) -> a fresh valid document of that kind."""
    return lambda name: EXAMPLES[name]()


@pytest.fixture
def captures() -> Path:
    if not CAPTURES.is_dir():
        pytest.skip(f"real LMU captures not available ({CAPTURES} is absent)")
    return CAPTURES
