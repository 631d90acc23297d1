"""The session view model from real simulated states: the simulator's game answers, the
client's own slimming, a real Tracker; no server. The game's own gap fields are the oracle for
the race gaps; the tracker's laps for the gaps at the line and the best-time colours."""

from __future__ import annotations

import copy
import re

import pytest

from client.slim import Slimmer
from server.tracking import Tracker
from sim.render import game_answers
from sim.synthetic import generate_session
from web import render
from web.views import session as view
from web.views import standings
from web.views.model import SessionInput

NOW = 1_800_000_000.0
XSS = "<img src=x onerror=alert(1)>"


def play(script, until: float, step: float = 3.0, start: float = 30.0):
    """(tracker, last state, last ET) after observing `script` every `step` s of ET."""
    slimmer = Slimmer()
    tracker, state, et = None, None, start
    while et <= until:
        state = slimmer(game_answers(script, et))
        if tracker is None:
            tracker = Tracker(state["session"]["session"], state["session"]["lapDistance"])
        tracker.observe(state, et)
        et += step
    return tracker, state, et - step


def meta(session_type: str, **extra) -> dict:
    base = {
        "session_id": "0123abc",
        "event_id": "0123abc",
        "track": "Test Track",
        "session_type": session_type,
        "online": True,
        "server": "srv",
        "port": 1,
        "phase": 5,
        "et": None,
        "last_fed_at": NOW - 1,
        "closed": False,
        "closed_reason": None,
        "driving_client": "c1",
        "clients": [{"client_id": "c1", "name": "member 1", "role": "primary",
                     "connected": True, "heard_at": NOW - 1, "heard_et": 0.0}],
        "cars": 0,
        "laps": 0,
        "remaining": None,
    }  # fmt: skip
    return base | extra


@pytest.fixture(scope="module")
def race():
    """16 cars, 4 classes, at ET 1300 s: the slower classes a lap down."""
    return play(generate_session(seed=5, cars=16, duration=2400), 1300.0)


@pytest.fixture(scope="module")
def practice():
    return play(generate_session(seed=6, cars=10, duration=1800, session="PRACTICE1"), 900.0)


def live(tracker, state, et, **extra) -> SessionInput:
    return SessionInput(meta("RACE1", **extra), tracker, state, et, NOW - 1, NOW)


def at_line(tracker, key: str, ahead: str) -> dict:
    """The oracle after a restart: both cars at the line that ended `key`'s last lap."""
    car, other = tracker.cars[key], tracker.cars[ahead]
    n = car.laps_done
    mine, theirs = car.laps[n].end_et, other.laps[n].end_et
    laps = sum(1 for k, lap in other.laps.items() if k > n and lap.end_et <= mine)
    return {"laps": laps, "time": pytest.approx(max(0.0, mine - theirs), abs=0.001)}


def test_race_gaps_after_a_restart_are_taken_at_the_line(race):
    tracker, _state, _et = race
    rows = view.build(live(tracker, None, None))["rows"]
    assert len(rows) == len(tracker.cars)
    assert [r["key"] for r in rows] == tracker.classification()
    leaders: dict[str, str] = {}
    previous: dict[str, str] = {}
    zero = {"laps": 0, "time": None}  # the reference car has no gap
    for i, r in enumerate(rows):
        key, cls = r["key"], r["car_class"]
        assert r["gap"] == (at_line(tracker, key, rows[0]["key"]) if i else zero)
        assert r["interval"] == (at_line(tracker, key, rows[i - 1]["key"]) if i else zero)
        leader = leaders.setdefault(cls, key)
        assert r["class_gap"] == (at_line(tracker, key, leader) if leader != key else zero)
        ahead = previous.get(cls)
        assert r["class_interval"] == (at_line(tracker, key, ahead) if ahead else zero)
        previous[cls] = key
        assert r["progress"] is None  # no live row: no lap progress
    assert sum(r["gap"]["laps"] > 0 for r in rows) >= 2, "the fixture should have lapped cars"


@pytest.mark.parametrize("with_tracker", [True, False], ids=["tracker", "no-tracker"])
def test_live_race_gaps_overall_and_in_class_are_the_games(race, with_tracker):
    """Live rows: the game's order and its own gap fields (with or without tracker facts)."""
    tracker, state, et = race
    inp = SessionInput(meta("RACE1"), tracker if with_tracker else None, state, et, NOW - 1, NOW)
    rows = view.build(inp)["rows"]
    assert [r["key"] for r in rows] == sorted(
        state["cars"], key=lambda k: state["cars"][k]["position"]
    )
    lapped = 0
    for r in rows:
        game = state["cars"][r["key"]]
        for ours, laps, time in (
            (r["gap"], "lapsBehindLeader", "timeBehindLeader"),
            (r["interval"], "lapsBehindNext", "timeBehindNext"),
            (r["class_gap"], "lapsBehindClassLeader", "timeBehindClassLeader"),
        ):
            assert ours["laps"] == game[laps], (r["key"], laps)
            if ours["time"] is None:  # the reference car itself
                assert game[time] == 0 and game[laps] == 0, (r["key"], time)
                continue
            assert ours["time"] == pytest.approx(game[time], abs=0.002), (r["key"], time)
        lapped += r["gap"]["laps"] > 0
    assert lapped >= 2
    seen: dict[str, int] = {}
    for r in rows:
        seen[r["car_class"]] = seen.get(r["car_class"], 0) + 1
        assert r["class_position"] == seen[r["car_class"]]
        if seen[r["car_class"]] == 2:
            assert r["class_interval"] == r["class_gap"]


def test_gap_text_of_a_lapped_car_and_the_leader(race):
    tracker, state, et = race
    html = render.fragments("session", live(tracker, state, et))
    model = view.build(live(tracker, state, et))
    leader, lapped = model["rows"][0], next(r for r in model["rows"] if r["gap"]["laps"] == 1)
    assert re.search(r'<span role="cell" class="gap">-</span>', html[leader["id"]])
    assert '<span role="cell" class="gap">+1 L</span>' in html[lapped["id"]]


def test_timed_session_gaps_are_by_best_lap(practice):
    tracker, state, et = practice
    model = view.build(SessionInput(meta("PRACTICE1"), tracker, state, et, NOW - 1, NOW))
    assert not model["header"]["is_race"]
    timed = [r for r in model["rows"] if r["best"]["time"] is not None]
    assert len(timed) >= 3
    fastest = min(r["best"]["time"] for r in timed)
    for r in timed:
        if r["gap"]["time"] is None:  # the fastest car is the reference
            assert r["best"]["time"] == fastest
            continue
        assert r["gap"]["time"] == pytest.approx(r["best"]["time"] - fastest, abs=0.0005)
        assert r["gap"]["laps"] == 0
    for r in model["rows"]:
        if r["best"]["time"] is None:
            assert r["gap"] == {"laps": 0, "time": None}


def test_best_time_colours_for_known_laps(race):
    tracker, _state, _et = race
    model = view.build(SessionInput(meta("RACE1"), tracker, None, None, None, NOW))
    html = render.fragments("session", SessionInput(meta("RACE1"), tracker, None, None, None, NOW))
    marks = 0
    for r in model["rows"]:
        car = tracker.cars[r["key"]]
        lap = car.laps[car.laps_done]
        class_best = tracker.bests.by_class[car.car_class].lap[0]
        car_best = tracker.bests.by_car[car.key].lap[0]
        driver_best = tracker.bests.by_driver[(car.key, lap.driver)].lap[0]
        if lap.lap_time <= 0:
            want = None  # no time, nothing to colour
        elif not lap.valid:
            want = "invalid"
        elif lap.lap_time <= class_best:
            want = "class"
        elif lap.lap_time <= car_best:
            want = "car"
        elif lap.lap_time <= driver_best:
            want = "driver"
        else:
            want = None
        assert r["last"] == {"time": lap.lap_time if lap.lap_time > 0 else None, "mark": want}
        if want is not None:
            marks += 1
            assert f"tm m-{want}" in html[r["id"]]
        # the best lap column is coloured only when it is the class best
        assert (r["best"]["mark"] == "class") == (r["best"]["time"] == class_best)
    assert marks >= 1


def test_rolling_sectors_show_the_lap_being_driven(race):
    tracker, state, et = race
    model = view.build(live(tracker, state, et))
    for r in model["rows"]:
        row = state["cars"][r["key"]]
        sector = row["ws"]["currentSector"] if "ws" in row else None
        if sector == 2:
            assert r["sectors"][0]["current"] and r["sectors"][1]["time"] is None
            assert r["sectors"][0]["time"] == pytest.approx(row["currentSectorTime1"])
        elif sector == 1:
            assert not r["sectors"][0]["current"]


def test_a_driver_named_like_html_is_text(race):
    tracker, state, et = race
    state = copy.deepcopy(state)
    key = next(iter(state["cars"]))
    state["cars"][key]["driverName"] = XSS
    state["cars"][key]["fullTeamName"] = '"><script>alert(2)</script>'
    inp = live(tracker, state, et)
    html = render.fragments("session", inp)
    row = html["car-" + render.slug(key)]
    assert "&lt;img src=x onerror=alert(1)&gt;" in row
    assert "<img" not in row and "<script" not in row
    assert "<img src=x" not in render.page("session", view.build(inp))


def test_without_state_and_without_laps():
    script = generate_session(seed=7, cars=6, duration=1200)
    slimmer = Slimmer()
    first = slimmer(game_answers(script, 1.0))
    tracker = Tracker(first["session"]["session"], first["session"]["lapDistance"])
    tracker.observe(first, 1.0)
    for state in (first, None):
        inp = SessionInput(meta("RACE1"), tracker, state, 1.0 if state else None, None, NOW)
        model = view.build(inp)
        assert len(model["rows"]) == 6
        assert all(r["last"]["time"] is None and r["best"]["time"] is None for r in model["rows"])
        render.page("session", model)
        render.fragments("session", inp)
    # no tracker at all (a session announced before its first feed)
    empty = view.build(SessionInput(meta("RACE1"), None, None, None, None, NOW))
    assert empty["rows"] == [] and "No cars yet" in render.page("session", empty)


def test_parts_have_unique_valid_ids_and_swap_out_of_band(race):
    tracker, state, et = race
    inp = live(tracker, state, et)
    frags = render.fragments("session", inp)
    ids = list(frags)
    assert ids[:3] == ["session-header", "session-status", "standings-order"]
    assert len(ids) == len(set(ids)) == 3 + 2 * len(state["cars"])
    for element_id, html in frags.items():
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", element_id)
        swap = "innerHTML" if element_id.startswith("lp-") else "true"
        assert html.lstrip().startswith("<") and f'id="{element_id}"' in html.split(">")[0]
        assert f'hx-swap-oob="{swap}"' in html.split(">")[0]
        assert "style=" not in html and "<script" not in html
    # a row keeps its lap progress element (hx-preserve) and does not carry its value
    row = frags[view.build(inp)["rows"][0]["id"]]
    assert 'hx-preserve="true"></span>' in row and "<progress" not in row
    model = view.build(inp)
    assert frags["standings-order"].count("car-") == len(model["rows"])
    # rendering twice gives the same bytes (the hub compares them)
    assert render.fragments("session", inp) == frags


def test_grouping_by_class_and_bad_grouping(race):
    tracker, state, et = race
    grouped = view.build(live(tracker, state, et), group="class")
    classes = [r["car_class"] for r in grouped["rows"]]
    assert classes == sorted(classes, key=grouped["classes"].index)
    with pytest.raises(ValueError, match="unknown grouping"):
        view.build(live(tracker, state, et), group="colour")


def test_status_warns_when_nobody_feeds(race):
    tracker, state, et = race
    fed = view.build(live(tracker, state, et))["status"]
    assert fed["feeding"] and fed["warning"] is None and fed["driving"] == "member 1"
    gone = meta("RACE1", clients=[{"client_id": "c1", "name": "m", "connected": False}])
    alone = view.build(SessionInput(gone, tracker, state, et, NOW - 1, NOW))["status"]
    assert not alone["feeding"] and "No client feeds" in alone["warning"]
    stale = view.build(SessionInput(meta("RACE1"), tracker, state, et, NOW - 120, NOW))["status"]
    assert stale["stale"] and "sent nothing recently" in stale["warning"]
    nxt = meta("RACE1", next_session={"session_id": "n1", "session_type": "RACE2"})
    model = view.build(SessionInput(nxt, tracker, state, et, NOW - 1, NOW))
    assert 'id="follow-next"' in render.page("session", model)


def test_energy_use_tyres_and_low_warnings():
    lap = dict(car="c", lap_time=90.0, s1=30.0, s2=30.0, s3=30.0, valid=True, driver="d",
               position=1, class_position=1, start_et=0.0, end_et=90.0, pit=False,
               garage=False, fuel=None, compounds=None, source="live")  # fmt: skip
    from server.tracking.laps import Lap

    laps = [Lap(lap=n, ve=1.0 - 0.1 * n, **lap) for n in range(1, 6)]
    assert standings._use_per_lap(laps, "ve") == pytest.approx(0.1)
    assert standings.tyres(["Medium"] * 4) == {
        "short": "M", "names": ["Medium"] * 4, "text": "Medium", "compound": "M"}  # fmt: skip
    mixed = standings.tyres(["Soft", "Soft", "Hard", "Hard"])
    assert (mixed["short"], mixed["text"], mixed["compound"]) == (
        "S/H",
        "front Soft, rear Hard",
        None,
    )
    assert standings.tyres(["Soft", "Hard", "Hard", "Wet"])["short"] == "SHHW"
    assert standings.tyres(None) is None
    # without a known use per lap, low means under 10 %
    assert standings._supplies(None, {"fuelFraction": 0.05}, None)["energy"]["low"] is True
    assert standings._supplies(None, {"fuelFraction": 0.5}, None)["energy"]["low"] is False
    ve = standings._supplies(None, {"fuelFraction": 0.5, "ws": {"virtualEnergy": 8.0}}, None)
    assert ve["energy"] | {} == {"kind": "ve", "level": 0.08, "per_lap": None,
                                  "laps_left": None, "low": True}  # fmt: skip
