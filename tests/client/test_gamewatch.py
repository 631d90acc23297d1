"""Game status from game-shaped answers, replay detection, and the event-time guard."""

from __future__ import annotations

import pytest

from client.gamewatch import EventClock, GameStatus, assess, event_time
from client.normalize import (
    GAME_STATE,
    JOIN_STATE,
    NAVIGATION,
    SESSION_INFO,
    STANDINGS,
    TEAMS,
)


def game_state(stint: str = "MONITOR_MENU", replay: bool = False, phase="GPHASE_GREEN") -> dict:
    return {
        "MultiStintState": stint,
        "gamePhase": phase,
        "inControlOfVehicle": False,
        "inMonitor": True,
        "isReplayActive": replay,
        "playerVehicleLoaded": True,
        "raceFinished": False,
        "teamVehicleState": "OTHER TEAMMATE DRIVING",
        "timeOfDay": 29115.04,
    }


SESSION = {
    "currentEventTime": 1234.5,
    "session": "RACE1",
    "trackName": "Algarve International Circuit",
    "serverName": "Team Server",
    "numberOfVehicles": 35,
}


def in_session(**over) -> dict:
    raw = {
        GAME_STATE: game_state(),
        SESSION_INFO: dict(SESSION),
        NAVIGATION: {"settingMode": "SETTING_MONITOR"},
        JOIN_STATE: "JOIN_JOINED_SERVER",
        TEAMS: {"coherenceId": 1, "drivers": {}, "teams": {}},
        STANDINGS: [{"slotID": i, "vehicleFilename": f"car{i}"} for i in range(35)],
    }
    raw.update(over)
    return raw


def test_in_session_online_with_label():
    view = assess(in_session())
    assert view.status is GameStatus.IN_SESSION and view.live
    assert view.online is True and view.cars == 35 and view.race
    assert view.label == "RACE1 at Algarve International Circuit"


def test_offline_and_unknown_network():
    assert assess(in_session(**{TEAMS: None})).online is False
    raw = in_session()
    del raw[TEAMS]
    assert assess(raw).online is None


def test_not_running_when_refused_or_nothing_answers():
    assert assess({}, refused=True).status is GameStatus.NOT_RUNNING
    nothing = {GAME_STATE: None, SESSION_INFO: None, NAVIGATION: None, JOIN_STATE: None}
    assert assess(nothing).status is GameStatus.NOT_RUNNING
    # Refused wins over answers kept from before.
    assert assess(in_session(), refused=True).status is GameStatus.NOT_RUNNING


def test_menu():
    raw = {
        GAME_STATE: game_state("DISABLED", phase="GPHASE_BEFORE"),
        SESSION_INFO: None,
        NAVIGATION: {"settingMode": "SETTING_MAIN_MENU"},
        JOIN_STATE: "JOIN_IDLE",
    }
    view = assess(raw)
    assert view.status is GameStatus.MENU and not view.live


@pytest.mark.parametrize(
    "raw",
    [
        {GAME_STATE: game_state("LOADING"), SESSION_INFO: None},
        {GAME_STATE: game_state("DISABLED"), NAVIGATION: {"settingMode": "SETTING_LOADING"}},
        # the game says it is in a session but sessionInfo has not answered yet
        {GAME_STATE: game_state("DRIVING"), SESSION_INFO: None},
        # sessionInfo already answers while the game is still loading
        in_session(**{GAME_STATE: game_state("LOADING")}),
    ],
)
def test_loading(raw):
    assert assess(raw).status is GameStatus.LOADING


def test_replay_is_never_live_either_way():
    by_screen = in_session(**{NAVIGATION: {"settingMode": "SETTING_REPLAY_PLAYBACK"}})
    by_state = in_session(**{GAME_STATE: game_state(replay=True)})
    for raw in (by_screen, by_state):
        view = assess(raw)
        assert view.status is GameStatus.REPLAY and not view.live
        assert view.label == "RACE1 at Algarve International Circuit"


def test_event_time():
    assert event_time(in_session()) == 1234.5
    assert event_time({SESSION_INFO: None}) is None
    assert event_time({SESSION_INFO: {"currentEventTime": "x"}}) is None
    assert event_time({SESSION_INFO: {"currentEventTime": True}}) is None


# --- the event-time guard -------------------------------------------------------------------


def test_first_tick_of_a_session_is_accepted_even_mid_race():
    clock = EventClock()
    assert clock.accept(5000.0, now=100.0)  # the old tracker dropped this one
    clock.reset()
    assert clock.accept(30.0, now=101.0)


def test_normal_race_pause_and_slow_answers_pass():
    clock = EventClock()
    et, now = 100.0, 0.0
    assert clock.accept(et, now)
    for step in (1.0, 1.0, 0.0, 0.0, 2.6, 0.4, 1.0):  # jitter, pause, a slow answer
        et += step
        now += 1.0
        assert clock.accept(et, now)


def test_backwards_is_refused_beyond_the_tolerance():
    clock = EventClock(tolerance=0.5)
    assert clock.accept(100.0, 0.0)
    assert clock.accept(99.7, 1.0)  # within tolerance
    assert not clock.accept(90.0, 2.0)


def test_forward_jump_is_refused():
    clock = EventClock(max_speed=1.0)
    assert clock.accept(100.0, 0.0)
    assert clock.accept(104.9, 1.0)  # under the 5 s floor
    assert not clock.accept(130.0, 2.0)  # 25 s of game time in 1 s of wall time
    # After a long wall-clock gap a big step is plausible: 3 x 20 s x 1.0 = 60 s.
    assert clock.accept(150.0, 21.0)


def test_max_speed_lets_a_faster_simulator_through():
    fast = EventClock(max_speed=10.0)
    slow = EventClock(max_speed=1.0)
    for clock in (fast, slow):
        assert clock.accept(600.0, 0.0)
    assert fast.accept(612.0, 1.0)  # 12 s of game time per wall second at 10x
    assert not slow.accept(612.0, 1.0)


def test_rebase_after_n_consistent_ticks():
    clock = EventClock(rebase_after=3)
    assert clock.accept(3000.0, 0.0)
    # The session restarted: ET goes back to 30 and then runs normally.
    assert not clock.accept(30.0, 1.0)
    assert not clock.accept(31.0, 2.0)
    assert clock.accept(32.0, 3.0)  # third consistent tick: new base adopted
    assert clock.accept(33.0, 4.0)
    assert clock.refused == 2


def test_inconsistent_glitches_never_rebase():
    clock = EventClock(rebase_after=3)
    assert clock.accept(1000.0, 0.0)
    assert not clock.accept(10.0, 1.0)
    assert not clock.accept(5000.0, 2.0)
    assert not clock.accept(20.0, 3.0)
    assert clock.accept(1003.0, 3.0)  # the real clock is back: accepted at once
    assert not clock.accept(10.0, 4.0)  # and a lone glitch starts counting afresh
