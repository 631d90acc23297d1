"""The game's JSON shapes, rendered from hand-built races (no engine, no sockets)."""

from __future__ import annotations

import orjson
import pytest

import schema
from sim.faults import Faults, FaultSpecError, apply_drift
from sim.render import EMPTY, REST, TOPICS, Scene, render, render_topic, serialize
from sim.viewpoint import ViewMode, Viewpoint, ViewState, pick_player_slots


def scene_at(kit, script, et, *, slot=0, state=ViewState.SESSION, name="", loading=False):
    live = kit.live_at(script, et)
    view = Viewpoint(index=0, player_slot=slot, player_name=name, state=state)
    mode = view.mode(live, loading=loading)
    return Scene(mode=mode, view=view, live=live if mode.in_session else None, script=script)


@pytest.mark.parametrize("et", [30.0, 200.0, 245.0, 400.0])
def test_every_document_validates_against_the_schema(kit, race, et):
    sc = scene_at(kit, race, et)
    for path, endpoint in REST.items():
        body = render(path, sc)
        if body is EMPTY:
            continue
        assert schema.validate(endpoint.document, body) == [], path
    for topic, endpoint in TOPICS.items():
        assert schema.validate(endpoint.document, render_topic(topic, sc)) == [], topic


def test_session_info_types_and_constants(kit, race):
    info = render("/rest/watch/sessionInfo", scene_at(kit, race, 200.0))
    assert info["gamePhase"] == 5 and isinstance(info["gamePhase"], int)
    assert info["raceCompletion"] == {"timeCompletion": pytest.approx(140 / 3600)}
    assert info["sectorFlag"] == ["UNKNOWN", "UNKNOWN", "UNKNOWN"]
    assert info["maximumLaps"] == 4294967295
    assert info["gameMode"] == "UNKNOWN" and info["yellowFlagState"] == "NONE"
    assert info["playerName"] == "Driver 0A"
    assert info["inRealtime"] is True
    assert set(info["windSpeed"]) == {"velocity", "x", "y", "z"}
    for key in ("ambientTemp", "currentEventTime", "lapDistance", "maxTime", "startEventTime"):
        assert isinstance(info[key], float), key
    assert serialize(info).startswith(b'{"ambientTemp":22.0,')


def test_ws_session_info_phase_is_a_string(kit, race):
    assert render_topic("SessionInfo", scene_at(kit, race, 30.0))["body"]["gamePhase"] == (
        "FORMATION"
    )
    message = render_topic("SessionInfo", scene_at(kit, race, 200.0))
    assert message["messageType"] == "UPDATE" and message["topic"] == "SessionInfo"
    assert message["body"]["gamePhase"] == "GREEN"


def test_standings_player_quirk_and_cumulative_splits(kit, race):
    sc = scene_at(kit, race, 200.0, slot=1)
    rows = {row["slotID"]: row for row in render("/rest/watch/standings", sc)}
    assert [rows[s]["player"] for s in (0, 1, 2)] == [False, True, False]
    assert rows[1]["fuelFraction"] == 1.0  # the game's full-tank quirk for the player car
    assert rows[0]["fuelFraction"] == pytest.approx(0.97)  # others: the true value
    lap1 = race.cars[0].laps[0]
    assert rows[0]["lastSectorTime1"] == lap1.sector_times[0]
    assert rows[0]["lastSectorTime2"] == lap1.sector_times[0] + lap1.sector_times[1]
    assert rows[0]["lastLapTime"] == lap1.lap_time
    assert isinstance(rows[0]["steamID"], int) and rows[0]["steamID"] == 76561198000000000
    assert rows[0]["carPosition"]["type"] == -1
    assert rows[0]["attackMode"] == {"remainingCount": 0, "timeRemaining": 0, "totalCount": 0}
    assert rows[0]["gamePhase"] == "GREEN" and rows[0]["pitState"] in (
        "NONE",
        "REQUEST",
    )
    assert rows[1]["currentSectorTime2"] == -1.0 or rows[1]["sector"] == "SECTOR3"


def test_no_time_is_minus_one(kit, race):
    rows = render("/rest/watch/standings", scene_at(kit, race, 10.0))
    for row in rows:
        # the captures: before a car's first lap its last lap and splits read 0, bests -1
        assert row["lapsCompleted"] == 0
        assert row["lastLapTime"] == 0.0 and row["bestLapTime"] == -1.0
        assert row["lastSectorTime1"] == 0.0 and row["lastSectorTime2"] == 0.0
        assert row["currentSectorTime2"] == -1.0 and row["bestLapSectorTime1"] == -1.0
        assert row["gamePhase"] == "FORMATION"
    for row in render_topic("LiveStandings", scene_at(kit, race, 10.0))["body"]:
        assert row["lastLapTime"] == 0.0 and row["lastLapTimeS1"] == 0.0
    # lap 2 of every car is a valid lap with a missing S2: the cumulative split is -1 too
    later = {r["slotID"]: r for r in render("/rest/watch/standings", scene_at(kit, race, 250.0))}
    assert later[1]["lastSectorTime2"] == -1.0 and later[1]["lastSectorTime1"] > 0


def test_ws_standing_names_and_types(kit, race):
    body = render_topic("LiveStandings", scene_at(kit, race, 200.0))["body"]
    row = {r["slotID"]: r for r in body}
    assert row[0]["steamID"] == "76561198000000000" and row[1]["steamID"] == "76561198000000001"
    assert row[2]["virtualEnergy"] is None  # the LMP2 has no virtual energy
    assert row[0]["virtualEnergy"] == pytest.approx(96.0)
    assert row[1]["penalties"] == {"DT": 1, "SG": 0, "TIME": 0}
    assert row[0]["compoundNames"] == ["Medium"] * 4
    assert row[0]["countLapFlag"] == "CLF_LAP_AND_TIME"
    assert isinstance(row[0]["pitState"], int)
    assert isinstance(row[0]["gapToClassLeader"], str)
    assert isinstance(row[0]["gapToRelativeTxt"], str)


def test_history_has_every_lap_plus_the_one_in_progress(kit, race):
    history = render("/rest/watch/standings/history", scene_at(kit, race, 250.0))
    assert set(history) == {"0", "1", "2"}
    car1 = history["1"]
    done = [lap for lap in race.cars[1].laps if lap.end_et <= 250.0]
    assert len(car1) == len(done) + 1
    assert [h["totalLaps"] for h in car1] == [*(lap.number for lap in done), len(done)]
    first = done[0]
    assert car1[0]["sectorTime2"] == first.sector_times[0] + first.sector_times[1]
    assert car1[0]["lapTime"] == first.lap_time
    assert car1[-1]["lapTime"] == -1.0
    assert car1[0]["position"] >= 1


def test_teams_online_and_offline(kit):
    online = render("/rest/multiplayer/teams", scene_at(kit, kit.small_race(), 200.0))
    assert online["drivers"]["Admin"]["roles"] == ["Admin"]
    assert "badge" not in online["drivers"]["Admin"]
    assert set(online["teams"]) == {"utid0", "utid1", "utid2"}
    team = online["teams"]["utid1"]
    assert team["name"] == "Proton Competition" and team["carNumber"] == "77"
    assert set(team["drivers"]) == {"Driver 1A", "Driver 1B"}
    offline_sc = scene_at(kit, kit.small_race(online=False), 200.0)
    assert render("/rest/multiplayer/teams", offline_sc) is None
    assert serialize(render("/rest/multiplayer/teams", offline_sc)) == b"null"
    assert render("/rest/multiplayer/join/state", offline_sc) == "JOIN_IDLE"
    assert serialize("JOIN_JOINED_SERVER") == b'"JOIN_JOINED_SERVER"'


def test_strategy_only_in_races_and_private_fuel(kit):
    practice = scene_at(kit, kit.small_race(session="PRACTICE1"), 200.0)
    assert render("/rest/strategy/overall", practice) is EMPTY
    assert serialize(EMPTY) == b""
    race = kit.small_race()
    stop = race.cars[0].pits[0]
    # before the car completes S1 of its out-lap the stop is not shown yet (game quirk)
    early = dict(render("/rest/strategy/overall", scene_at(kit, race, stop.exit_et + 1)))
    assert [e["lap"] for e in early["Iron Dames"]] == [0]
    later = scene_at(kit, race, stop.exit_et + 60)
    teams = dict(render("/rest/strategy/overall", later))
    stops = teams["Iron Dames"]
    assert [e["lap"] for e in stops] == [0, 2]
    assert stops[1]["driverSwap"] is True and stops[1]["driver"] == "Driver 0B"
    assert stops[1]["time"] == pytest.approx(stop.stationary_time)
    assert stops[1]["tyres"]["fl"] == {
        "changed": True,
        "compound": "Soft",
        "new": True,
        "usage": 100.0,
    }
    assert stops[1]["fuel"] == pytest.approx(0.9)
    assert "fuel" not in teams["Proton Competition"][0]
    assert "usage" not in teams["Proton Competition"][0]["tyres"]["fl"]
    # another viewpoint sees the fuel of its own team only
    other = dict(render("/rest/strategy/overall", scene_at(kit, race, stop.exit_et + 60, slot=1)))
    assert "fuel" not in other["Iron Dames"][1] and "fuel" in other["Proton Competition"][0]


def test_usage_private_fuel_and_tyres(kit, race):
    usage = render("/rest/strategy/usage", scene_at(kit, race, 400.0))
    assert [u["lap"] for u in usage["Driver 0A"]] == [0, 1, 2]
    assert usage["Driver 0A"][2]["pit"] is True
    assert usage["Driver 0B"][0]["stint"] == 2
    assert usage["Driver 0A"][1]["fuel"] == pytest.approx(0.97)  # true fuel, not the quirk
    assert len(usage["Driver 0A"][1]["tyres"]) == 4
    assert "fuel" not in usage["Driver 1A"][1] and "tyres" not in usage["Driver 1A"][1]


def test_chat_oldest_first_with_integer_ticks(kit, race):
    lines = render("/rest/chat/", scene_at(kit, race, 250.0))
    assert [line["message"] for line in lines] == ["F Riley: Lorem", "E Dean: sit amet"]
    assert serialize(lines).endswith(b'"timestamp":17730572110904992}]')


def test_monitoring_a_teammate(kit, race):
    # after the swap Driver 0B drives car 0: Driver 0A's game is only monitoring
    sc = scene_at(kit, race, 400.0)
    assert sc.mode is ViewMode.MONITOR
    state = render("/rest/sessions/GetGameState", sc)
    assert state["MultiStintState"] == "MONITOR_MENU"
    assert state["teamVehicleState"] == "OTHER TEAMMATE DRIVING"
    assert render("/rest/watch/sessionInfo", sc)["inRealtime"] is False
    assert render("/navigation/state", sc) == {"settingMode": "SETTING_MONITOR"}
    driving = scene_at(kit, race, 400.0, name="Driver 0B")
    assert render("/rest/sessions/GetGameState", driving)["teamVehicleState"] == "IN CONTROL"
    assert render("/navigation/state", driving) == {"settingMode": "SETTING_DRIVING"}


def test_menu_loading_and_replay(kit, race):
    menu = scene_at(kit, race, 200.0, state=ViewState.MENU)
    assert render("/rest/watch/sessionInfo", menu) is EMPTY
    assert render("/rest/sessions/GetGameState", menu)["MultiStintState"] == "DISABLED"
    assert schema.validate("gameState", render("/rest/sessions/GetGameState", menu)) == []
    assert render("/rest/watch/standings", menu) == []
    assert render("/rest/multiplayer/teams", menu) is None
    assert render("/rest/multiplayer/join/state", menu) == "JOIN_IDLE"
    assert render("/navigation/state", menu) == {"settingMode": "SETTING_MAIN_MENU"}
    assert render_topic("LiveStandings", menu) is None
    loading = scene_at(kit, race, 200.0, loading=True)
    assert render("/rest/watch/sessionInfo", loading) is EMPTY
    assert render("/rest/sessions/GetGameState", loading)["MultiStintState"] == "LOADING"
    assert render("/navigation/state", loading) == {"settingMode": "SETTING_LOADING"}
    assert render("/rest/multiplayer/join/state", loading) == "JOIN_JOINED_SERVER"
    replay = scene_at(kit, race, 200.0, state=ViewState.REPLAY)
    assert render("/navigation/state", replay) == {"settingMode": "SETTING_REPLAY_PLAYBACK"}
    assert render("/rest/sessions/GetGameState", replay)["isReplayActive"] is True
    assert render("/rest/watch/sessionInfo", replay)["inRealtime"] is False
    assert len(render("/rest/watch/standings", replay)) == 3


def test_faults_parse_and_drift():
    faults = Faults.parse({"endpoint": "standings", "drift": {"from": "a", "to": "b"}})
    outcome = faults.outcome("/rest/watch/standings", "standings")
    assert outcome.drift and faults.outcome("/rest/chat/", "chat").clean
    doc = [{"a": 1, "c": {"a": 2}}]
    assert apply_drift(doc, outcome.drift) == [{"b": 1, "c": {"b": 2}}]
    assert doc == [{"a": 1, "c": {"a": 2}}]  # the cached original is untouched
    dropped = Faults.parse({"drift": {"drop": "veFraction"}}).outcome("x")
    assert apply_drift({"veFraction": 1, "k": 2}, dropped.drift) == {"k": 2}
    assert Faults.parse({}).outcome("x").clean
    with pytest.raises(FaultSpecError):
        Faults.parse({"slowly": 1})


def test_http500_probability_is_seeded():
    def pattern(seed):
        faults = Faults.parse({"seed": seed, "http500": 0.5})
        return [faults.outcome("p").status for _ in range(200)]

    assert pattern(3) == pattern(3)
    assert 60 < pattern(3).count(500) < 140
    assert Faults.parse({"http500": True}).outcome("p").status == 500


def test_pick_player_slots_distinct_teams(kit, race):
    race.cars[1].entry.team_name = race.cars[0].entry.team_name
    slots = pick_player_slots(race, 2)
    assert slots == [0, 2]
    assert pick_player_slots(race, 3) == [0, 2, 1]


def test_serialize_is_orjson_with_sorted_keys():
    assert serialize({"b": 1, "a": [1.5, None]}) == orjson.dumps({"a": [1.5, None], "b": 1})


def test_non_finite_engine_values_never_reach_json(kit, race):
    sc = scene_at(kit, race, 200.0)
    sc.live.cars[0].lap_start_et = float("inf")
    sc.live.cars[0].time_into_lap = float("nan")
    rows = render("/rest/watch/standings", sc)
    assert b"null" not in serialize(rows)
    assert schema.validate("standings", rows) == []
