"""normalize(): the game's answers -> one ClientState document, keyed for merge patches."""

from __future__ import annotations

import copy
import random
from pathlib import Path

import orjson
import pytest

from client import normalize as n
from client.carkey import car_key, split_car_key, standing_key, ws_standing_key
from schema import wire
from schema.mergepatch import apply, assert_patchable, diff

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
CAPTURES = SHARED / "reference" / "lmu-captures"
STAMP = 17730571110904992


# --- game-shaped examples (client.md 1.4) ----------------------------------------------------


def standing(slot: int, veh: str, position: int, **over) -> dict:
    row = {
        "attackMode": {"remainingCount": 0, "timeRemaining": 0, "totalCount": 0},
        "bestLapTime": 92.61,
        "carClass": "LMP2_ELMS",
        "carNumber": "04",
        "carPosition": {"type": -1, "x": 27.1, "y": -1.2, "z": -213.4},
        "currentSectorTime1": -1,
        "driverName": f"Driver {slot}",
        "finishStatus": "FSTAT_NONE",
        "fullTeamName": "United Autosports",
        "lapDistance": 105.3,
        "lapsCompleted": 12,
        "lastLapTime": 93.01,
        "lastSectorTime1": 30.2,
        "lastSectorTime2": 61.9,
        "pitState": "NONE",
        "position": position,
        "sector": "SECTOR2",
        "slotID": slot,
        "steamID": 76561198000000000 + slot,
        "vehicleFilename": veh,
        "vehicleName": "United Autosports 2025 #22:ELMS",
    }
    row.update(over)
    return row


def ws_standing(slot: int, veh: str, **over) -> dict:
    row = {
        "compoundNames": ["Medium", "Medium", "Soft", "Soft"],
        "penalties": {"DT": 0, "SG": 1, "TIME": 0},
        "pitState": 0,
        "slotID": slot,
        "steamID": "76561198000000000",
        "vehFilename": veh,
        "virtualEnergy": 61.5,
    }
    row.update(over)
    return row


def game_raw() -> dict:
    """One tick of answers from a game in an online race, as parsed JSON."""
    return {
        n.SESSION_INFO: {
            "currentEventTime": 1234.5,
            "gamePhase": 5,
            "session": "RACE1",
            "trackName": "Algarve International Circuit",
            "sectorFlag": ["UNKNOWN", "YELLOW", "UNKNOWN"],
            "raceCompletion": {"timeCompletion": 0.25},
            "maximumLaps": 4294967295,
        },
        n.STANDINGS: [
            standing(0, "22_25_UNIT1234ABCD", 2),
            standing(1, "85_24_IRON46E687F1", 1, fullTeamName="Iron Dames"),
            standing(2, "22_25_UNIT1234ABCD", 3, bestLapTime=-1),
        ],
        n.WS_STANDINGS: [
            ws_standing(1, "85_24_IRON46E687F1", virtualEnergy=None),
            ws_standing(0, "22_25_UNIT1234ABCD"),
        ],
        n.WS_SESSION: {"currentEventTime": 1234.6, "gamePhase": "GREEN"},
        n.GAME_STATE: {
            "MultiStintState": "DRIVING",
            "PitState": "EXITING",
            "closeestWeatherNode": {"Duration": 0, "Humidity": 84, "Sky": 1},
            "gamePhase": "GPHASE_GREEN",
            "inControlOfVehicle": True,
            "isReplayActive": False,
            "teamVehicleState": "IN CONTROL",
            "timeOfDay": 29115.04,
            "PitEntryDist": None,
        },
        n.JOIN_STATE: "JOIN_JOINED_SERVER",
        n.NAVIGATION: {"settingMode": "SETTING_DRIVING"},
        n.TEAMS: {
            "coherenceId": 7,
            "drivers": {
                "Admin": {"isConnected": True, "roles": ["Admin"]},
                "Driver 0": {"badge": "sr-clean", "roles": None, "teamId": "12"},
            },
            "teams": {
                "utid0": {"Id": "12", "carNumber": "22", "drivers": None, "name": "United"},
                "utid1": {"Id": "13", "carNumber": "85", "drivers": {}, "name": "Iron Dames"},
            },
        },
        n.CHAT: [
            {"message": "F Riley: Lorem", "timestamp": STAMP},
            {"message": "F Riley: Lorem", "timestamp": STAMP},  # the same line twice
            {"message": "E Dean: sit amet", "timestamp": STAMP},  # same tick, other text
            {"message": "E Dean: box", "timestamp": STAMP + 10_000_000},
        ],
        n.STRATEGY: [
            ["United Autosports", [{"driver": "Driver 0", "lap": 0, "fuel": None}]],
            ["Iron Dames", [{"driver": "Sarah", "lap": 0}, {"driver": "Sarah", "lap": 14}]],
            ["United Autosports", [{"driver": "Driver 2", "lap": 0}, {"lap": 9}, {"lap": 9}]],
        ],
        n.USAGE: {
            "Driver 0": [
                {"lap": 0, "pit": False, "stint": 1, "ve": 1.0, "tyres": [100, 100, 100, 100]},
                {"lap": 1, "pit": False, "stint": 1, "ve": 0.953},
            ],
            "Somebody": None,
        },
        n.TRACKMAP: [
            {"type": 0, "x": 1.0, "y": 0.0, "z": 2.0},
            {"type": 1, "x": 3, "y": 0, "z": 4},
        ],
    }


# --- car keys -------------------------------------------------------------------------------


def test_car_key_round_trip():
    assert car_key(3, "397_24_MCLAREN") == "3-397_24_MCLAREN"
    assert car_key(3, "397_24_MCLAREN.veh") == "3-397_24_MCLAREN"
    assert split_car_key("12-85_24-IRON") == (12, "85_24-IRON")
    assert standing_key({"slotID": 0, "vehicleFilename": "A"}) == "0-A"
    assert ws_standing_key({"slotID": 0, "vehFilename": "A"}) == "0-A"
    assert standing_key({"slotID": "0", "vehicleFilename": "A"}) is None
    assert ws_standing_key({"slotID": True, "vehFilename": "A"}) is None
    for bad in ("A-1", "-x", "12"):
        with pytest.raises(ValueError):
            split_car_key(bad)
    with pytest.raises(ValueError):
        car_key(-1, "A")


# --- the document ---------------------------------------------------------------------------


def test_normalized_document_shape():
    state = n.normalize(game_raw())
    assert_patchable(state)
    assert list(state) == [
        "game",
        "session",
        "cars",
        "teams",
        "chat",
        "strategy",
        "usage",
        "trackmap",
    ]
    assert state["game"] == {
        "running": True,
        "screen": "SETTING_DRIVING",
        "replay": False,
        "join_state": "JOIN_JOINED_SERVER",
        "online": True,
        "in_session": True,
        "multi_stint_state": "DRIVING",
        "game_phase": "GPHASE_GREEN",
        "team_vehicle_state": "IN CONTROL",
        "in_control": True,
        "pit_state": "EXITING",
        "time_of_day": 29115.04,
        "weather": {"Duration": 0, "Humidity": 84, "Sky": 1},
    }
    session = state["session"]
    assert session["gamePhase"] == 5 and session["ws"]["gamePhase"] == "GREEN"
    assert session["sectorFlag"] == ["UNKNOWN", "YELLOW", "UNKNOWN"]  # a value list stays


def test_cars_are_keyed_and_carry_their_websocket_row():
    raw = game_raw()
    cars = n.normalize(raw)["cars"]
    assert list(cars) == ["0-22_25_UNIT1234ABCD", "1-85_24_IRON46E687F1", "2-22_25_UNIT1234ABCD"]
    iron = cars["1-85_24_IRON46E687F1"]
    assert iron["fullTeamName"] == "Iron Dames" and iron["position"] == 1
    assert iron["ws"]["penalties"] == {"DT": 0, "SG": 1, "TIME": 0}
    assert "virtualEnergy" not in iron["ws"]  # null dropped
    assert cars["0-22_25_UNIT1234ABCD"]["ws"]["virtualEnergy"] == 61.5
    assert "ws" not in cars["2-22_25_UNIT1234ABCD"]  # no websocket row for it
    assert cars["2-22_25_UNIT1234ABCD"]["bestLapTime"] == -1  # -1 is data, kept verbatim
    assert cars["0-22_25_UNIT1234ABCD"]["steamID"] == 76561198000000000  # exact int
    assert raw == game_raw()  # inputs untouched


def test_websocket_frame_or_body_both_work():
    raw = game_raw()
    frame = {"messageType": "UPDATE", "topic": "LiveStandings", "body": raw[n.WS_STANDINGS]}
    assert n.normalize({**raw, n.WS_STANDINGS: frame}) == n.normalize(raw)


def test_car_seen_only_by_the_websocket():
    raw = game_raw()
    raw[n.WS_STANDINGS].append(ws_standing(7, "X"))
    assert n.normalize(raw)["cars"]["7-X"] == {"ws": ws_standing(7, "X")}


def test_teams_verbatim_without_nulls():
    teams = n.normalize(game_raw())["teams"]
    assert teams["teams"]["utid0"] == {"Id": "12", "carNumber": "22", "name": "United"}
    assert teams["teams"]["utid1"]["drivers"] == {}
    assert teams["drivers"]["Driver 0"] == {"badge": "sr-clean", "teamId": "12"}


def test_chat_keys_and_duplicates():
    chat = n.normalize(game_raw())["chat"]
    assert chat == {
        f"{STAMP}-0": {"message": "F Riley: Lorem", "timestamp": STAMP},
        f"{STAMP}-1": {"message": "E Dean: sit amet", "timestamp": STAMP},
        f"{STAMP + 10_000_000}-0": {"message": "E Dean: box", "timestamp": STAMP + 10_000_000},
    }
    assert type(chat[f"{STAMP}-0"]["timestamp"]) is int


def test_new_chat_lines_only_add_keys():
    raw = game_raw()
    before = n.normalize(raw)
    raw[n.CHAT] = [*raw[n.CHAT], {"message": "A B: new", "timestamp": STAMP + 99}]
    patch = diff(before, n.normalize(raw))
    assert patch == {"chat": {f"{STAMP + 99}-0": {"message": "A B: new", "timestamp": STAMP + 99}}}


def test_strategy_keys_survive_duplicate_team_names():
    strategy = n.normalize(game_raw())["strategy"]
    assert list(strategy) == ["United Autosports", "Iron Dames", "United Autosports#2"]
    assert strategy["United Autosports"] == {
        "name": "United Autosports",
        "stops": {"0": {"driver": "Driver 0", "lap": 0}},  # fuel null dropped
    }
    assert list(strategy["Iron Dames"]["stops"]) == ["0", "14"]
    assert list(strategy["United Autosports#2"]["stops"]) == ["0", "9", "9#2"]


def test_strategy_keys_do_not_move_when_another_team_leaves():
    raw = game_raw()
    before = n.normalize(raw)["strategy"]
    raw[n.STRATEGY] = [raw[n.STRATEGY][0], raw[n.STRATEGY][2]]  # Iron Dames gone
    after = n.normalize(raw)["strategy"]
    assert after == {k: v for k, v in before.items() if k != "Iron Dames"}


def test_usage_by_driver_and_lap():
    usage = n.normalize(game_raw())["usage"]
    assert list(usage) == ["Driver 0"]  # a null list is left out
    assert usage["Driver 0"]["0"]["tyres"] == [100, 100, 100, 100]
    assert usage["Driver 0"]["1"]["ve"] == 0.953


def test_usage_keeps_each_drivers_newest_laps_only():
    """A 24-hour race's usage list has every lap of every car; the state keeps a window."""
    rows = [{"lap": lap, "ve": 0.9, "pit": False} for lap in range(300)]
    rows.insert(150, {"lap": 299, "ve": 0.5, "pit": True})  # a repeat of the newest lap
    raw = {n.USAGE: {"Long": rows, "Short": rows[:3]}}
    usage = n.normalize(raw)["usage"]
    laps = list(range(300 - n.USAGE_LAPS, 300))
    assert sorted(usage["Long"]) == sorted([str(lap) for lap in laps] + ["299#2"])
    assert sorted(usage["Short"]) == ["0", "1", "2"]
    # the next lap slides the window: one key added, one deleted, nothing else in the patch
    later = n.normalize({n.USAGE: {"Long": [*rows, {"lap": 300, "ve": 0.8}], "Short": rows[:3]}})
    patch = diff({"usage": usage}, {"usage": later["usage"]})
    assert patch == {
        "usage": {"Long": {str(300 - n.USAGE_LAPS): None, "300": {"lap": 300, "ve": 0.8}}}
    }


def test_replay_is_seen_from_navigation_or_game_state():
    raw = game_raw()
    raw[n.NAVIGATION] = {"settingMode": "SETTING_REPLAY_PLAYBACK"}
    assert n.normalize(raw)["game"]["replay"] is True
    raw = game_raw()
    raw[n.GAME_STATE]["isReplayActive"] = True
    assert n.normalize(raw)["game"]["replay"] is True


def test_offline_and_out_of_session():
    raw = game_raw()
    raw[n.TEAMS] = None  # offline: the game answers null
    raw[n.SESSION_INFO] = None
    raw[n.WS_SESSION] = None
    raw[n.JOIN_STATE] = "JOIN_IDLE"
    state = n.normalize(raw)
    assert state["game"]["online"] is False and state["game"]["in_session"] is False
    assert "teams" not in state and "session" not in state
    assert_patchable(state)


def test_flags_only_for_endpoints_that_were_asked():
    state = n.normalize({n.GAME_STATE: {"MultiStintState": "DISABLED", "isReplayActive": False}})
    assert state == {
        "game": {"running": True, "replay": False, "multi_stint_state": "DISABLED"},
    }


def test_game_not_running():
    assert n.normalize({}) == {"game": {"running": False}}
    assert n.normalize(dict.fromkeys(n.ENDPOINTS)) == {
        "game": {"running": False, "online": False, "in_session": False}
    }


def test_malformed_answers_do_not_crash():
    raw = {
        n.STANDINGS: [None, 3, {"slotID": "x"}, standing(0, "A", 1)],
        n.CHAT: [{"message": "no stamp"}, {"timestamp": 1.5, "message": "float"}, "x"],
        n.STRATEGY: [["only name"], 7, {"name": "Obj", "strategy": [{"lap": 0}]}, [1, []]],
        n.USAGE: {"D": [{"lap": "1"}, {"lap": 2}]},
        n.TRACKMAP: {"not": "a list"},
        n.NAVIGATION: "SETTING_DRIVING",
        n.SESSION_INFO: {"x": float("nan"), "y": [1.0, None, float("inf"), 2.0]},
    }
    state = n.normalize(raw)
    assert_patchable(state)
    assert list(state["cars"]) == ["0-A"]
    assert "chat" not in state and "trackmap" not in state
    assert state["strategy"] == {"Obj": {"name": "Obj", "stops": {"0": {"lap": 0}}}}
    assert state["usage"] == {"D": {"2": {"lap": 2}}}
    assert state["session"] == {"y": [1.0, 2.0]}


def test_nulls_anywhere_are_dropped():
    raw = game_raw()
    for row in raw[n.STANDINGS]:
        row["bestLapTime"] = None
        row["carPosition"]["x"] = None
        row["extra"] = [None, {"a": None}]
    state = n.normalize(raw)
    assert_patchable(state)
    assert state["cars"]["0-22_25_UNIT1234ABCD"]["extra"] == [{}]


# --- stability ------------------------------------------------------------------------------


def test_shuffled_standings_give_the_same_document():
    raw = game_raw()
    expected = n.normalize(raw)
    for seed in range(5):
        shuffled = copy.deepcopy(raw)
        random.Random(seed).shuffle(shuffled[n.STANDINGS])
        random.Random(seed + 100).shuffle(shuffled[n.WS_STANDINGS])
        got = n.normalize(shuffled)
        assert got == expected
        assert orjson.dumps(got) == orjson.dumps(expected)  # same bytes: cars ordered by slot
        assert diff(expected, got) is None


def test_one_car_moving_touches_only_that_car():
    raw = game_raw()
    before = n.normalize(raw)
    moved = copy.deepcopy(raw)
    car = moved[n.STANDINGS][2]
    car["lapDistance"] += 55.0
    car["carPosition"]["x"] += 40.0
    moved[n.STANDINGS].reverse()  # the list order changes too
    patch = diff(before, n.normalize(moved))
    assert patch == {
        "cars": {
            "2-22_25_UNIT1234ABCD": {
                "lapDistance": car["lapDistance"],
                "carPosition": {"x": car["carPosition"]["x"]},
            }
        }
    }
    assert apply(before, patch) == n.normalize(moved)


def test_overtake_patch_names_only_the_two_cars():
    raw = game_raw()
    before = n.normalize(raw)
    rows = raw[n.STANDINGS]
    rows[0]["position"], rows[1]["position"] = 1, 2
    rows[0], rows[1] = rows[1], rows[0]
    patch = diff(before, n.normalize(raw))
    assert set(patch) == {"cars"}
    assert patch["cars"] == {
        "0-22_25_UNIT1234ABCD": {"position": 1},
        "1-85_24_IRON46E687F1": {"position": 2},
    }


# --- the real game's answers (reference captures, never copied) -------------------------------


def load(path: Path, encoding: str | None = None):
    if not path.exists():
        pytest.skip(f"reference captures absent: {path} (../shared is not beside the repo)")
    if encoding:
        return orjson.loads(path.read_text(encoding=encoding))
    return orjson.loads(path.read_bytes())


@pytest.mark.parametrize("folder", ["synced", "unsynced"])
def test_real_captures_normalize(folder):
    standings = load(CAPTURES / folder / "standings.json")
    info = load(CAPTURES / folder / "sessionInfo.json")
    history = load(CAPTURES / folder / "standingsHistory.json")
    raw = {
        n.SESSION_INFO: info,
        n.STANDINGS: standings,
        "/rest/watch/standings/history": history,  # not part of the state: ignored
    }
    state = n.normalize(raw)
    assert_patchable(state)
    assert state["session"] == info
    assert len(state["cars"]) == len(standings)
    for row in standings:
        assert state["cars"][f"{row['slotID']}-{row['vehicleFilename']}"] == row

    shuffled = copy.deepcopy(standings)
    random.Random(7).shuffle(shuffled)
    assert n.normalize({**raw, n.STANDINGS: shuffled}) == state

    # the history travels in a backfill message instead
    msg = wire.backfill("019d4a8b:0", 2, info["currentEventTime"], history)
    assert wire.decode(wire.encode(msg), sender="client") == msg
    snap = wire.snapshot("019d4a8b:0", 1, info["currentEventTime"], 1774000000.0, state)
    data = wire.encode(snap)
    assert len(data) < wire.MAX_MESSAGE_BYTES
    assert wire.decode(data, sender="client")["state"] == state


def test_real_capture_one_car_moved_touches_only_that_car():
    standings = load(CAPTURES / "unsynced" / "standings.json")
    before = n.normalize({n.STANDINGS: standings})
    moved = copy.deepcopy(standings)
    target = moved[17]
    target["lapDistance"] += 12.5
    target["timeIntoLap"] += 0.25
    patch = diff(before, n.normalize({n.STANDINGS: moved}))
    key = f"{target['slotID']}-{target['vehicleFilename']}"
    assert patch == {
        "cars": {key: {"lapDistance": target["lapDistance"], "timeIntoLap": target["timeIntoLap"]}}
    }


def test_real_strategy_latin1():
    teams = load(CAPTURES / "strategy-overall.json", encoding="latin-1")
    strategy = n.normalize({n.STRATEGY: teams})["strategy"]
    assert_patchable(strategy)
    assert len(strategy) == len(teams)  # duplicated names are all kept
    names = [name for name, _ in teams]
    assert len(set(names)) < len(names)
    assert sorted(v["name"] for v in strategy.values()) == sorted(names)
    assert sum(len(v["stops"]) for v in strategy.values()) == sum(len(s) for _, s in teams)
    for key, value in strategy.items():
        assert key == value["name"] or key.startswith(value["name"] + "#")


def test_real_trackmap_is_kept_verbatim():
    points = load(CAPTURES / "synced" / "trackMap.json")
    state = n.normalize({n.TRACKMAP: points})
    assert state["trackmap"] == points
    assert diff(state, n.normalize({n.TRACKMAP: copy.deepcopy(points)})) is None
