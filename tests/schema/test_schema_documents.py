"""Hand-written documents for every schema, and mutations that each schema must catch."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schema import DOCUMENTS, is_valid, load_schema, validate
from schema.validation import fast_check, jsonschema_validator

Example = Callable[[str], object]


@pytest.mark.parametrize("name", DOCUMENTS)
def test_example_document_is_valid(example: Example, name: str) -> None:
    document = example(name)
    assert validate(name, document) == []
    assert is_valid(name, document)
    assert jsonschema_validator(name).is_valid(document)


def _paths(name: str, document: object) -> set[tuple[str, str]]:
    return {(v.path, v.message) for v in validate(name, document)}


def _only_paths(name: str, document: object) -> set[str]:
    assert not is_valid(name, document)
    return {v.path for v in validate(name, document)}


# --- renamed, missing and unexpected fields ---------------------------------------------------


def test_renamed_field_reports_missing_and_unexpected(example: Example) -> None:
    cars = example("standings")
    cars[1]["lapsComplete"] = cars[1].pop("lapsCompleted")
    assert _paths("standings", cars) == {
        ("/1/lapsCompleted", "missing field"),
        ("/1/lapsComplete", "unexpected field"),
    }


def test_game_state_keeps_the_misspelt_weather_node(example: Example) -> None:
    state = example("gameState")
    state["closestWeatherNode"] = state.pop("closeestWeatherNode")
    assert _only_paths("gameState", state) == {"/closeestWeatherNode", "/closestWeatherNode"}


def test_game_state_pascal_case_is_exact(example: Example) -> None:
    state = example("gameState")
    state["multiStintState"] = state.pop("MultiStintState")
    assert _only_paths("gameState", state) == {"/MultiStintState", "/multiStintState"}


def test_game_state_outside_a_session_omits_pit_fields(example: Example) -> None:
    state = example("gameState")
    for field in ("PitEntryDist", "PitState", "exitGarageState"):
        del state[field]
    state["MultiStintState"] = "DISABLED"
    assert validate("gameState", state) == []


@pytest.mark.parametrize(
    ("name", "locate"),
    [
        ("sessionInfo", lambda d: (d, "trackName", "/trackName")),
        ("wsLiveStandings", lambda d: (d["body"][1], "compoundNames", "/body/1/compoundNames")),
        ("wsSessionInfo", lambda d: (d["body"], "windSpeed", "/body/windSpeed")),
        ("chat", lambda d: (d[0], "timestamp", "/0/timestamp")),
        ("standingsHistory", lambda d: (d["0"][0], "lapTime", "/0/0/lapTime")),
        ("trackmap", lambda d: (d[2], "type", "/2/type")),
        ("multiplayerTeams", lambda d: (d["teams"]["utid0"], "Id", "/teams/utid0/Id")),
        ("strategyOverall", lambda d: (d[0][1][1], "ve", "/0/1/1/ve")),
        ("strategyUsage", lambda d: (d["Ada Lovegood"][1], "stint", "/Ada Lovegood/1/stint")),
        ("sessionsInfoForEvent", lambda d: (d, "scheduledSessions", "/scheduledSessions")),
        ("navigationState", lambda d: (d, "settingMode", "/settingMode")),
        ("wsSubscribe", lambda d: (d, "topic", "/topic")),
    ],
)
def test_missing_required_field_points_at_it(example: Example, name: str, locate) -> None:
    document = example(name)
    parent, field, pointer = locate(document)
    del parent[field]
    assert _paths(name, document) == {(pointer, "missing field")}
    (violation,) = validate(name, document)
    assert violation.value == "<missing>"
    assert violation.document == name


# --- wrong types, enums, ranges ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "mutate", "pointer"),
    [
        # REST gamePhase is an int; the websocket's string form is wrong here, and vice versa.
        ("sessionInfo", lambda d: d.update(gamePhase="GREEN"), "/gamePhase"),
        ("sessionInfo", lambda d: d.update(gamePhase=10), "/gamePhase"),
        ("wsSessionInfo", lambda d: d["body"].update(gamePhase=5), "/body/gamePhase"),
        ("wsSessionInfo", lambda d: d["body"].update(gamePhase="FCY"), "/body/gamePhase"),
        ("sessionInfo", lambda d: d.update(sectorFlag=["UNKNOWN", "UNKNOWN"]), "/sectorFlag"),
        ("sessionInfo", lambda d: d.update(session="RACE5"), "/session"),
        ("sessionInfo", lambda d: d.update(maximumLaps=4294967296), "/maximumLaps"),
        # steamID: a JSON integer in REST, a digit string on the websocket.
        ("standings", lambda d: d[0].update(steamID="76561198000000000"), "/0/steamID"),
        ("wsLiveStandings", lambda d: d["body"][0].update(steamID=765), "/body/0/steamID"),
        ("wsLiveStandings", lambda d: d["body"][0].update(steamID="7656x"), "/body/0/steamID"),
        # pitState: a string in REST, an int 0..5 on the websocket.
        ("standings", lambda d: d[1].update(pitState="PITTING"), "/1/pitState"),
        ("standings", lambda d: d[1].update(pitState=3), "/1/pitState"),
        ("wsLiveStandings", lambda d: d["body"][1].update(pitState=6), "/body/1/pitState"),
        ("wsLiveStandings", lambda d: d["body"][1].update(pitState="NONE"), "/body/1/pitState"),
        # countLapFlag spellings differ between REST and websocket.
        ("standings", lambda d: d[0].update(countLapFlag="CLF_LAP_ONLY"), "/0/countLapFlag"),
        (
            "wsLiveStandings",
            lambda d: d["body"][0].update(countLapFlag="COUNT_LAP_ONLY"),
            "/body/0/countLapFlag",
        ),
        ("standings", lambda d: d[0].update(carClass="LMGT3"), "/0/carClass"),
        ("standings", lambda d: d[0].update(inControl=3), "/0/inControl"),
        ("standings", lambda d: d[0].update(position=0), "/0/position"),
        ("standings", lambda d: d[0].update(fuelFraction=1.2), "/0/fuelFraction"),
        ("standings", lambda d: d[0].update(upgradePack="84100400"), "/0/upgradePack"),
        ("standings", lambda d: d[0]["carPosition"].update(type=0), "/0/carPosition/type"),
        (
            "standings",
            lambda d: d[0]["attackMode"].update(totalCount=1),
            "/0/attackMode/totalCount",
        ),
        # Strict integers: 18.0 is a float, which the game's own client would reject.
        ("standings", lambda d: d[0].update(lapsCompleted=18.0), "/0/lapsCompleted"),
        ("standings", lambda d: d[0].update(timeIntoLap=True), "/0/timeIntoLap"),
        ("standings", lambda d: d[0].update(player=1), "/0/player"),
        (
            "wsLiveStandings",
            lambda d: d["body"][0].update(compoundNames=["Medium"] * 3),
            "/body/0/compoundNames",
        ),
        (
            "wsLiveStandings",
            lambda d: d["body"][0].update(compoundNames=["N/A", "Wet", "Wet", "Wet"]),
            "/body/0/compoundNames/0",
        ),
        (
            "wsLiveStandings",
            lambda d: d["body"][0].update(virtualEnergy=100.5),
            "/body/0/virtualEnergy",
        ),
        (
            "wsLiveStandings",
            lambda d: d["body"][0]["penalties"].update(DT=-1),
            "/body/0/penalties/DT",
        ),
        (
            "wsLiveStandings",
            lambda d: d["body"][0].update(vehicleNumber="1234"),
            "/body/0/vehicleNumber",
        ),
        ("wsLiveStandings", lambda d: d.update(topic="SessionInfo"), "/topic"),
        ("wsSessionInfo", lambda d: d.update(messageType="SUB"), "/messageType"),
        ("wsSubscribe", lambda d: d.update(messageType="UPDATE"), "/messageType"),
        ("wsSubscribe", lambda d: d.update(topic="Chat"), "/topic"),
        ("gameState", lambda d: d.update(gamePhase="GREEN"), "/gamePhase"),
        ("gameState", lambda d: d.update(teamVehicleState="IN_CONTROL"), "/teamVehicleState"),
        (
            "gameState",
            lambda d: d["closeestWeatherNode"].update(Humidity=-1),
            "/closeestWeatherNode/Humidity",
        ),
        (
            "standingsHistory",
            lambda d: d["0"][0].update(finishStatus="FSTAT_FINISHED"),
            "/0/0/finishStatus",
        ),
        ("standingsHistory", lambda d: d["0"][0].update(lapTime=-2.0), "/0/0/lapTime"),
        ("trackmap", lambda d: d[0].update(type=211), "/0/type"),
        (
            "sessionsInfoForEvent",
            lambda d: d["scheduledSessions"][0].update(name="RACE1"),
            "/scheduledSessions/0/name",
        ),
        (
            "multiplayerTeams",
            lambda d: d["teams"]["utid0"].update(carNumber="0004"),
            "/teams/utid0/carNumber",
        ),
        (
            "multiplayerTeams",
            lambda d: d["drivers"]["Ada Lovegood"].update(badge="gold"),
            "/drivers/Ada Lovegood/badge",
        ),
        (
            "multiplayerTeams",
            lambda d: d["drivers"]["Ada Lovegood"].update(roles=["Driver", "Spectator"]),
            "/drivers/Ada Lovegood/roles/1",
        ),
        # The old tracker's `^uuid|[0-9]{1,22}$` pattern let this through; ours is anchored.
        ("multiplayerTeams", lambda d: d["teams"]["utid1"].update(Id="team-42"), "/teams/utid1/Id"),
        (
            "strategyOverall",
            lambda d: d[0][1][0]["tyres"]["fl"].update(compound="Inter"),
            "/0/1/0/tyres/fl/compound",
        ),
        ("strategyOverall", lambda d: d[0][1][0].update(fuel=64.0), "/0/1/0/fuel"),
        (
            "strategyUsage",
            lambda d: d["Ada Lovegood"][0].update(tyres=[100, 100, 100]),
            "/Ada Lovegood/0/tyres",
        ),
        ("strategyUsage", lambda d: d["Ada Lovegood"][0].update(stint=0), "/Ada Lovegood/0/stint"),
        ("navigationState", lambda d: d.update(settingMode="MAIN_MENU"), "/settingMode"),
        ("navigationState", lambda d: d.update(settingMode=3), "/settingMode"),
    ],
)
def test_mutation_is_caught_at_its_path(example: Example, name: str, mutate, pointer: str) -> None:
    document = example(name)
    mutate(document)
    assert _only_paths(name, document) == {pointer}


@pytest.mark.parametrize(
    ("name", "mutate", "pointer"),
    [
        ("standings", lambda d: d[0].update(bestLapTime=None), "/0/bestLapTime"),
        ("standings", lambda d: d[1].update(veFraction=None), "/1/veFraction"),
        ("sessionInfo", lambda d: d.update(windSpeed=None), "/windSpeed"),
        ("chat", lambda d: d[1].update(message=None), "/1/message"),
        ("strategyOverall", lambda d: d[0][1][0].update(driver=None), "/0/1/0/driver"),
        ("strategyOverall", lambda d: d[1].__setitem__(1, None), "/1/1"),
        ("multiplayerTeams", lambda d: d.update(drivers=None), "/drivers"),
        (
            "multiplayerTeams",
            lambda d: d["teams"]["utid0"]["drivers"]["Ada Lovegood"].update(roles=None),
            "/teams/utid0/drivers/Ada Lovegood/roles",
        ),
        ("gameState", lambda d: d.update(PitState=None), "/PitState"),
        ("wsLiveStandings", lambda d: d["body"][0].update(penalties=None), "/body/0/penalties"),
    ],
)
def test_null_where_the_game_never_sends_null(example: Example, name: str, mutate, pointer) -> None:
    document = example(name)
    mutate(document)
    assert _only_paths(name, document) == {pointer}


@pytest.mark.parametrize(
    ("name", "mutate"),
    [
        ("gameState", lambda d: d.update(PitEntryDist=None)),
        ("strategyOverall", lambda d: d[0][1][0].update(fuel=None)),
        ("strategyOverall", lambda d: d[0][1][0]["tyres"]["rr"].update(usage=None)),
        ("wsLiveStandings", lambda d: d["body"][1].update(virtualEnergy=None)),
        ("multiplayerTeams", lambda d: d["drivers"]["Admin"].update(roles=None)),
        ("sessionsInfoForEvent", lambda d: d.update(scheduledSessions=None)),
        ("strategyUsage", lambda d: d.update({"Ada Lovegood": None})),
        ("chat", lambda d: d.clear()),
        ("standings", lambda d: d.clear()),
        ("strategyUsage", lambda d: d.clear()),
        ("strategyOverall", lambda d: d.clear()),
        ("navigationState", lambda d: d.update(settingMode="SETTING_REPLAY_PLAYBACK", extra=1)),
    ],
)
def test_what_the_game_may_send_is_accepted(example: Example, name: str, mutate) -> None:
    document = example(name)
    mutate(document)
    assert validate(name, document) == []


def test_literal_null_is_only_valid_for_teams() -> None:
    valid_with_null = {name for name in DOCUMENTS if is_valid(name, None)}
    assert valid_with_null == {"multiplayerTeams"}


# --- documents with unusual shapes -------------------------------------------------------------


def test_chat_timestamp_must_stay_an_exact_integer(example: Example) -> None:
    lines = example("chat")
    exact = lines[0]["timestamp"]
    assert exact > 2**53
    lines[0]["timestamp"] = float(exact)  # what a float round trip would produce
    (violation,) = validate("chat", lines)
    assert violation.path == "/0/timestamp"
    assert violation.value == repr(float(exact))
    assert "integer" in violation.message
    lines[0]["timestamp"] = 2**64  # beyond an unsigned 64-bit integer
    assert _only_paths("chat", lines) == {"/0/timestamp"}
    lines[0]["timestamp"] = 2**64 - 1
    assert is_valid("chat", lines)


@pytest.mark.parametrize(
    ("mutate", "pointer"),
    [
        (lambda d: d[0].append("extra"), "/0"),  # a 3-element tuple
        (lambda d: d[1].pop(), "/1"),  # a 1-element tuple
        (lambda d: d[2].reverse(), "/2"),  # [[...], name]: both members have the wrong type
        (lambda d: d.__setitem__(0, {"McLaren GT3 #04": []}), "/0"),  # an object, not a tuple
    ],
)
def test_strategy_tuples_have_exactly_two_members(example: Example, mutate, pointer: str) -> None:
    teams = example("strategyOverall")
    mutate(teams)
    assert not is_valid("strategyOverall", teams)
    assert {v.path[: len(pointer)] for v in validate("strategyOverall", teams)} == {pointer}


def test_join_state_is_a_bare_string() -> None:
    assert is_valid("joinState", "JOIN_IDLE")
    for bad in ("IDLE", "join_idle", "", {"state": "JOIN_IDLE"}, None, 0):
        assert not is_valid("joinState", bad), bad
    (violation,) = validate("joinState", "IDLE")
    assert violation.path == ""


def test_history_and_team_map_keys_are_checked(example: Example) -> None:
    history = example("standingsHistory")
    history["car7"] = []
    (violation,) = validate("standingsHistory", history)
    assert (violation.path, violation.value) == ("/car7", "'car7'")
    teams = example("multiplayerTeams")
    teams["teams"]["team1"] = teams["teams"].pop("utid1")
    assert _only_paths("multiplayerTeams", teams) == {"/teams/team1"}


def test_admin_driver_has_no_team_fields_but_still_needs_roles(example: Example) -> None:
    teams = example("multiplayerTeams")
    del teams["drivers"]["Admin"]["roles"]
    assert _only_paths("multiplayerTeams", teams) == {"/drivers/Admin/roles"}


def test_pointer_escapes_slash_and_tilde(example: Example) -> None:
    usage = example("strategyUsage")
    usage["A/B~C"] = [{"lap": -1, "pit": False, "stint": 1, "ve": 1.0}]
    assert _only_paths("strategyUsage", usage) == {"/A~1B~0C/0/lap"}


def test_session_info_rest_and_websocket_differ_only_in_game_phase() -> None:
    rest = load_schema("sessionInfo")
    ws = load_schema("wsSessionInfo")["$defs"]["WSSessionInfo"]
    assert rest["required"] == ws["required"]
    differing = {k for k in rest["properties"] if rest["properties"][k] != ws["properties"][k]}
    assert differing == {"gamePhase"}
    assert set(rest["properties"]) == set(ws["properties"])


# --- the fast path and the reference engine agree ------------------------------------------------

_ODD_VALUES = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    3.0,
    2**70,
    -(2**70),
    "",
    "GREEN",
    "JOIN_X",
    [],
    {},
    [1, 2],
]


def _locations(document: object, prefix: tuple = ()) -> list[tuple]:
    """Every path into a document (containers and leaves)."""
    found = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            found += _locations(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += _locations(value, (*prefix, index))
    return found


def _mutated(document: object, path: tuple, action: str, value: object) -> object:
    if not path:
        return value
    parent = document
    for token in path[:-1]:
        parent = parent[token]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "add" and isinstance(parent[last], dict):
        parent[last]["unexpectedField"] = value
    else:
        parent[last] = value
    return document


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fast_check_agrees_with_jsonschema_on_random_mutations(example: Example, data) -> None:
    name = data.draw(st.sampled_from(DOCUMENTS))
    document = example(name)
    path = data.draw(st.sampled_from(_locations(document)))
    action = data.draw(st.sampled_from(["replace", "delete", "add"]))
    value = copy.deepcopy(data.draw(st.sampled_from(_ODD_VALUES)))
    if action == "delete" and not path:
        action = "replace"
    document = _mutated(document, path, action, value)
    reference = jsonschema_validator(name).is_valid(document)
    assert fast_check(name)(document) == reference
    assert (validate(name, document) == []) == reference
