"""The polling schedule: exact request counts over simulated minutes, backoff, plan, scope."""

from __future__ import annotations

from collections import Counter

from client.normalize import (
    CHAT,
    GAME_STATE,
    JOIN_STATE,
    NAVIGATION,
    SESSION_INFO,
    STANDINGS,
    STRATEGY,
    TEAMS,
    TRACKMAP,
    USAGE,
    WS_STANDINGS,
)
from client.schedule import Schedule

TICK_ENDPOINTS = (SESSION_INFO, NAVIGATION, JOIN_STATE, STANDINGS)


def changing(endpoint: str, t: float) -> bytes:
    return f"{endpoint}@{t}".encode()


def steady(endpoint: str, t: float) -> bytes:
    return f"{endpoint} always the same".encode()


def run(schedule: Schedule, seconds: int, answer=changing, start: float = 0.0) -> Counter:
    """Tick once a second for `seconds`, answer everything due; count requests."""
    asked: Counter = Counter()
    for i in range(seconds):
        now = start + i
        for endpoint in schedule.due(now):
            asked[endpoint] += 1
            schedule.answered(endpoint, now, answer(endpoint, now))
    return asked


def race_schedule() -> Schedule:
    schedule = Schedule(tick=1.0)
    schedule.set_context(running=True, in_session=True, race=True)
    return schedule


def test_a_minute_of_race_with_everything_changing():
    asked = run(race_schedule(), 60)
    assert asked == {
        GAME_STATE: 60,
        SESSION_INFO: 60,
        NAVIGATION: 60,
        JOIN_STATE: 60,
        STANDINGS: 60,
        TEAMS: 6,
        CHAT: 12,
        STRATEGY: 6,
        USAGE: 6,
        TRACKMAP: 1,
    }


def test_a_minute_of_unchanged_answers_backs_off_to_the_caps():
    asked = run(race_schedule(), 60, answer=steady)
    # 1 s endpoints: t=0, 1, 3, then every 4 s (cap 4x): 7, 11, ..., 59 -> 17.
    for endpoint in TICK_ENDPOINTS:
        assert asked[endpoint] == 17, endpoint
    assert asked[GAME_STATE] == 60  # never backs off
    assert asked[TEAMS] == 3  # t=0, 10, 30 (then 70: period 40)
    assert asked[STRATEGY] == 3 and asked[USAGE] == 3
    assert asked[CHAT] == 5  # t=0, 5, 15, 35, 55 (cap 20)
    assert asked[TRACKMAP] == 1
    # Ten minutes: teams/strategy settle at their 60 s cap.
    longer = run(race_schedule(), 600, answer=steady)
    assert longer[TEAMS] == 3 + len(range(70, 600, 60))
    assert longer[STANDINGS] == 3 + len(range(7, 600, 4))


def test_a_change_snaps_back_to_the_base_period():
    schedule = race_schedule()
    run(schedule, 30, answer=steady)
    assert schedule.period(JOIN_STATE) == 4.0
    assert schedule.period(TEAMS) == 20.0  # asked at 0, 10 (-> 20)
    late = run(schedule, 60, answer=changing, start=30)
    assert schedule.period(JOIN_STATE) == 1.0 and schedule.period(TEAMS) == 10.0
    # join state: due at 31 (answered 27 + 4), then every second: 31..89
    assert late[JOIN_STATE] == 59


def test_session_change_snaps_everything_back_and_refetches_the_track_map():
    schedule = race_schedule()
    first = run(schedule, 40, answer=steady)
    assert first[TRACKMAP] == 1
    schedule.session_changed(39)  # noticed at the tick of t=39
    due = schedule.due(40)
    assert {TEAMS, CHAT, STRATEGY, USAGE, TRACKMAP} <= due
    assert schedule.period(STANDINGS) == 1.0
    assert run(schedule, 20, start=40)[TRACKMAP] == 1


def test_an_empty_track_map_is_asked_again():
    schedule = race_schedule()
    asked = run(schedule, 60, answer=lambda e, t: b"[]" if e == TRACKMAP else changing(e, t))
    assert asked[TRACKMAP] == 3  # t=0, 10, 30: backs off like an unchanged answer
    schedule.answered(TRACKMAP, 60, b'[{"type":0,"x":1.0,"y":0.0,"z":2.0}]')
    assert run(schedule, 300, start=61)[TRACKMAP] == 0


def test_failures_back_off_but_game_state_keeps_being_asked():
    schedule = race_schedule()
    asked = run(schedule, 60, answer=lambda e, t: None)
    assert asked[GAME_STATE] == 60
    assert asked[SESSION_INFO] == 16  # t=0 (fails: 2 s), 2 (4 s), 6, 10, ..., 58
    assert asked[TRACKMAP] == 2  # t=0, 20: a failed map is retried, slower and slower


def test_scope_follows_the_game():
    schedule = Schedule(tick=1.0)
    schedule.set_context(running=False, in_session=False)
    assert run(schedule, 60) == {GAME_STATE: 60}  # not running: one request a second
    schedule = Schedule(tick=1.0)
    schedule.set_context(running=True, in_session=False)
    assert run(schedule, 10) == {GAME_STATE: 10, SESSION_INFO: 10, NAVIGATION: 10, JOIN_STATE: 10}
    schedule = Schedule(tick=1.0)
    schedule.set_context(running=True, in_session=True, race=False)  # practice: no strategy
    asked = run(schedule, 60)
    assert STRATEGY not in asked and USAGE not in asked and asked[TEAMS] == 6
    assert schedule.in_scope(WS_STANDINGS)


def test_the_servers_plan_switches_off_and_overrides_periods():
    schedule = race_schedule()
    schedule.apply_plan(
        {
            "fetch": {CHAT: False, WS_STANDINGS: False, "/rest/unknown": True},
            "intervals": {TEAMS: 30, STANDINGS: 2.0},
        }
    )
    asked = run(schedule, 60)
    assert CHAT not in asked
    assert not schedule.in_scope(WS_STANDINGS)
    assert asked[TEAMS] == 2  # t=0, 30
    assert asked[STANDINGS] == 30  # every 2 s
    assert asked[SESSION_INFO] == 60
    # A new plan replaces the old one: chat is back at its default.
    schedule.apply_plan({"fetch": {}})
    later = run(schedule, 60, start=60)
    assert later[CHAT] == 12 and later[STANDINGS] == 60


def test_a_longer_tick_is_the_floor_of_every_period():
    schedule = Schedule(tick=2.0)
    schedule.set_context(running=True, in_session=True, race=True)
    asked: Counter = Counter()
    for i in range(30):  # one minute at a tick every 2 s
        now = 2.0 * i
        for endpoint in schedule.due(now):
            asked[endpoint] += 1
            schedule.answered(endpoint, now, changing(endpoint, now))
    assert asked[GAME_STATE] == 30 and asked[STANDINGS] == 30
    assert asked[TEAMS] == 6
    assert asked[CHAT] == 10  # due every 5 s, asked at the next tick: 0, 6, 12, ..., 54
