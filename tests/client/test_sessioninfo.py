"""The pure rules behind reading REST sessionInfo less often (`client.sessioninfo`, schedule)."""

from __future__ import annotations

from client.normalize import GAME_STATE, SESSION_INFO
from client.schedule import Schedule
from client.sessioninfo import Marks, coherent, merge, settled, standings_et

REST = {"currentEventTime": 100.0, "gamePhase": 6, "trackTemp": 30.0, "playerName": "A"}
PUSHED = {
    "currentEventTime": 101.0,
    "gamePhase": "GREEN",
    "trackTemp": 31.0,
    "sectorFlag": ["YELLOW"] * 3,
    "timeRemainingInGamePhase": 500.0,
}
STANDINGS = [
    {"lapStartET": 50.0, "timeIntoLap": 51.0},
    {"lapStartET": 0.0, "timeIntoLap": 0.0},  # in the garage
    {"lapStartET": 90.0},
]


def test_merge_takes_pushed_fields_but_the_rest_phase():
    merged = merge(REST, PUSHED)
    assert merged["gamePhase"] == 6  # the int, not the coarse string
    assert merged["currentEventTime"] == 101.0 and merged["trackTemp"] == 31.0
    assert merged["playerName"] == "A" and merged["sectorFlag"] == ["YELLOW"] * 3


def test_the_push_stands_in_only_when_settled_and_as_new_as_the_standings():
    assert standings_et(STANDINGS) == 101.0
    assert standings_et([]) is None and standings_et(None) is None
    assert coherent(PUSHED, STANDINGS)
    assert not coherent({**PUSHED, "currentEventTime": 99.0}, STANDINGS)  # a lagging push
    assert not coherent(PUSHED, [])
    assert settled(PUSHED, REST, STANDINGS)
    assert not settled(None, REST, STANDINGS)
    assert not settled(PUSHED, None, STANDINGS)  # no REST answer (menu): REST every tick
    assert not settled({**PUSHED, "gamePhase": "FORMATION"}, REST, STANDINGS)  # hides phases


def test_marks_change_with_a_sign_or_a_restarted_phase_clock():
    game = {"gamePhase": "GPHASE_GREEN", "MultiStintState": "DRIVING", "timeOfDay": 1.0}
    then = Marks.of(PUSHED, game)
    later = {**PUSHED, "currentEventTime": 111.0, "timeRemainingInGamePhase": 490.0}
    assert not then.changed(Marks.of(later, {**game, "timeOfDay": 9.0}))  # counting down
    frozen = {**PUSHED, "currentEventTime": 111.0}
    assert not then.changed(Marks.of(frozen, game))  # before the start: the clock stands
    assert then.changed(Marks.of({**later, "timeRemainingInGamePhase": 900.0}, game))
    assert then.changed(Marks.of({**later, "sectorFlag": ["UNKNOWN"] * 3}, game))
    assert then.changed(Marks.of(later, {**game, "MultiStintState": "PAUSED"}))
    assert then.changed(Marks.of({**later, "session": "RACE2"}, game))


def test_schedule_holds_off_and_hurries_an_endpoint():
    schedule = Schedule(1.0)
    schedule.set_context(running=True, in_session=True)
    schedule.answered(SESSION_INFO, 0.0, b"{}")
    schedule.hold_off(SESSION_INFO, 10.0)
    assert schedule.held_off(SESSION_INFO) == 10.0
    asked = []
    for t in range(1, 31):
        if SESSION_INFO in schedule.due(float(t)):
            asked.append(t)
            schedule.answered(SESSION_INFO, float(t), b"{}")  # unchanged: no backoff past 10 s
    assert asked == [10, 20, 30]
    schedule.hurry(SESSION_INFO)
    assert SESSION_INFO in schedule.due(31.0)
    schedule.answered(SESSION_INFO, 31.0, b"{}")
    assert SESSION_INFO not in schedule.due(32.0) and GAME_STATE in schedule.due(32.0)
    schedule.hold_off(SESSION_INFO, None)  # the push went silent: due at once, every tick
    assert schedule.held_off(SESSION_INFO) == 0.0
    assert SESSION_INFO in schedule.due(32.0)
