"""slim(): a state changes only as documented (dropped noise, rounding), and stays patchable."""

from __future__ import annotations

import math
import random

import pytest

from client import slim as s
from client.normalize import ENDPOINTS, WS_TOPICS, normalize
from schema.mergepatch import assert_patchable, diff
from sim.engine import evaluate
from sim.render import EMPTY, REST, Scene, render, render_topic
from sim.script import Weekend
from sim.synthetic import generate_session
from sim.viewpoint import ViewMode, Viewpoint


def game_raw(et: float, seed: int = 11) -> dict:
    """Every endpoint the client reads, rendered by the simulator at `et` (no network)."""
    script = generate_session(seed=seed, cars=30, duration=3600)
    view = Viewpoint(index=0, player_slot=script.cars[0].entry.slot_id)
    scene = Scene(ViewMode.MONITOR, view, evaluate(script, et), script, Weekend([script]))
    raw: dict = {}
    for endpoint in ENDPOINTS:
        if endpoint in REST:
            body = render(endpoint, scene)
            raw[endpoint] = None if body is EMPTY else body
    for endpoint in WS_TOPICS:
        raw[endpoint] = render_topic(endpoint.removeprefix("ws:"), scene)
    return raw


def rules_for(path: tuple[str, ...]) -> tuple[bool, int | None]:
    """(dropped, decimals) the documented rules give for a field path of the state."""
    section = path[0]
    if section == "cars":
        if len(path) >= 4 and path[2] == "ws":
            return path[3] in s.DROPPED_WS_FIELDS, s.ROUNDING["ws"].get(path[3])
        return path[2] in s.DROPPED_CAR_FIELDS, s.ROUNDING["car"].get(path[2])
    if section == "session":
        field = path[2] if len(path) > 2 and path[1] == "ws" else path[1]
        return False, s.ROUNDING["session"].get(field)
    if section == "game":
        return False, s.ROUNDING["game"].get(path[1])
    return False, None


def compare(before, after, path=()) -> list[str]:
    """Check every difference against the rules; return the dropped paths."""
    dropped = []
    if type(before) is dict:
        assert type(after) is dict, path
        for key, value in before.items():
            sub = (*path, key)
            if key not in after:
                is_dropped, _ = rules_for(sub)
                assert is_dropped, f"{'/'.join(sub)} vanished without a rule"
                dropped.append("/".join(sub))
                continue
            dropped += compare(value, after[key], sub)
        assert set(after) <= set(before), path
        return dropped
    if type(before) is list:
        assert before == after, path
        return dropped
    if before == after and type(before) is type(after):
        return dropped
    _, decimals = rules_for(path if len(path) < 4 or path[2] == "ws" else path[:3])
    assert decimals is not None, f"{'/'.join(path)} changed without a rule: {before} -> {after}"
    assert type(before) is float and type(after) is float, path
    assert abs(before - after) <= 0.5 * 10**-decimals + 1e-12, path
    assert after not in (-1.0, 0.0), f"{'/'.join(path)} rounded onto a sentinel"
    return dropped


def test_round_trip_changes_only_what_the_rules_say():
    state = normalize(game_raw(1500.0))
    slimmed = s.slim(state)
    assert_patchable(slimmed)
    dropped = compare(state, slimmed)
    car_key = next(iter(state["cars"]))
    assert f"cars/{car_key}/timeIntoLap" in dropped
    assert f"cars/{car_key}/ws/posX" in dropped
    assert f"cars/{car_key}/carAcceleration" in dropped
    # Everything the rules do not mention is untouched.
    assert slimmed["teams"] is state["teams"] and slimmed["chat"] == state["chat"]
    # The dropped time into lap is what the documented formula gives back.
    et = state["session"]["currentEventTime"]
    for key, car in state["cars"].items():
        lap_start = slimmed["cars"][key]["lapStartET"]
        assert s.time_into_lap(et, lap_start) == pytest.approx(car["timeIntoLap"], abs=0.002)


def test_rounding_values_and_sentinels():
    assert s.round_value(12.34567, 1) == 12.3
    assert s.round_value(-1.0, 3) == -1.0 and s.round_value(0.0, 3) == 0.0
    assert s.round_value(-0.99996, 4) == -0.99996  # never rounded onto the -1 sentinel
    assert s.round_value(0.00003, 4) == 0.00003  # nor onto 0
    assert math.copysign(1.0, s.round_value(-0.0, 1)) == 1.0
    assert s.round_value(7, 1) == 7 and type(s.round_value(7, 1)) is int
    assert s.round_value({"x": 1.26, "type": -1}, 1) == {"x": 1.3, "type": -1}


def test_jitter_makes_no_patch_but_real_changes_do():
    state = normalize(game_raw(1500.0))
    key = next(iter(state["cars"]))
    car = state["cars"][key]
    wobble = dict(car, carPosition={**car["carPosition"], "x": car["carPosition"]["x"] + 1e-6})
    wobble["timeIntoLap"] = car["timeIntoLap"] + 0.5
    jittered = {**state, "cars": {**state["cars"], key: wobble}}
    assert diff(s.slim(state), s.slim(jittered)) is None
    moved = {**state, "cars": {**state["cars"], key: dict(car, lapsCompleted=999)}}
    assert diff(s.slim(state), s.slim(moved)) == {"cars": {key: {"lapsCompleted": 999}}}


def test_one_second_of_racing_sends_less():
    import orjson

    before, after = normalize(game_raw(1500.0)), normalize(game_raw(1501.0))
    raw_patch = orjson.dumps(diff(before, after))
    slim_patch = orjson.dumps(diff(s.slim(before), s.slim(after)))
    assert len(slim_patch) < 0.8 * len(raw_patch)


def test_slimmer_gives_exactly_slim_of_normalize_tick_after_tick():
    import orjson

    from client.normalize import STANDINGS, TEAMS, WS_STANDINGS

    slimmer = s.Slimmer()
    previous: dict | None = None
    last: dict = {}
    for et in (900.0, 901.0, 902.0, 960.0):
        raw = game_raw(et)
        if previous is not None:  # answers not asked again: the very same objects
            raw[TEAMS] = previous[TEAMS]
        # what the cleaning and rounding must cope with: nulls, NaN, infinities, -0.0, ints
        row = dict(raw[STANDINGS][0])
        row.update(lapDistance=float("nan"), fuelFraction=-0.0, bestLapTime=None)
        row.update(lastLapTime=float("inf"), lapStartET=3, carPosition={"x": None, "y": 1.26})
        raw[STANDINGS] = [row, *raw[STANDINGS][1:]]
        ws = raw[WS_STANDINGS]
        body = ws["body"] if type(ws) is dict and "body" in ws else ws
        body[0] = {**body[0], "timeBehindNext": -0.00001, "virtualEnergy": None}
        expected = s.slim(normalize(raw))
        got = slimmer(raw)
        assert orjson.dumps(got) == orjson.dumps(expected)  # type-exact, same key order
        assert_patchable(got)
        if previous is not None:  # an unchanged answer gives the very same section
            assert got["teams"] is last["teams"]
        previous, last = raw, got


def test_row_reuse_gives_exactly_a_fresh_shaping_whatever_changes():
    """Cars whose rows hold still (but for the moving fields) reuse last tick's shaping; any
    other change (a slow field, a type, a null, a field added or gone, another car in the slot,
    a value orjson cannot encode) is shaped afresh: the result is always the fresh one."""
    import json

    from client.normalize import STANDINGS, WS_STANDINGS

    rng = random.Random(3)
    slimmer = s.Slimmer()
    cars_shaper = slimmer.shapers.car
    base = game_raw(900.0)
    last: dict | None = None
    mutations = [
        lambda r: r.update(lapsCompleted=r["lapsCompleted"] + 1),  # a slow field
        lambda r: r.update(lapsCompleted=float(r["lapsCompleted"])),  # only its JSON type
        lambda r: r.update(lapDistance=None),  # a fast field turns null
        lambda r: r.update(carPosition={**r["carPosition"], "x": float("nan")}),
        lambda r: r.update(carVelocity=float("inf")),
        lambda r: r.pop("timeBehindNext"),  # a fast field goes
        lambda r: r.update(extraField=[1, None, 2]),  # a field appears
        lambda r: r.update(steamID=2**70),  # orjson cannot encode it
        lambda r: r.update(driverName="<b>Someone else</b>", vehicleFilename="OTHER_CAR"),
        lambda r: r.update(lapDistance=r["lapDistance"] + rng.uniform(0.0, 0.04)),  # rounds away
    ]
    for tick in range(40):
        raw = dict(base)
        moved = game_raw(900.0 + tick)
        raw[STANDINGS] = [dict(row) for row in moved[STANDINGS]]
        for row in raw[STANDINGS][: rng.randrange(4)]:
            rng.choice(mutations)(row)
        ws = moved[WS_STANDINGS]
        body = [dict(row) for row in (ws["body"] if type(ws) is dict else ws)]
        if tick % 5 == 4:
            body[0]["virtualEnergy"] = rng.choice((None, 12, 12.0, 55.5))
        raw[WS_STANDINGS] = {**ws, "body": body} if type(ws) is dict else body
        got = slimmer(raw)
        # type-exact and in order (json, not orjson: it writes any int)
        assert json.dumps(got) == json.dumps(s.slim(normalize(raw)))
        if last is not None:
            before = last["cars"]
            still = [
                k for k, car in got["cars"].items() if car.get("ws") is before.get(k, {}).get("ws")
            ]
            assert len(still) >= 0.6 * len(got["cars"])  # rows that held still: the same object
        last = got
    # most rows took the cheap way (the counts show that RowReuse, not chance, did it)
    assert cars_shaper.reused > 0.8 * 30 * 39
    assert slimmer.shapers.car_ws.reused > 0.6 * 30 * 39


def test_a_websocket_row_whose_change_the_rounding_hides_is_last_ticks_object():
    reuse = s.RowReuse(s.ROUNDING["ws"], s.DROPPED_WS_FIELDS)
    first = reuse({"slotID": 3, "virtualEnergy": 55.501, "posX": 1.0})
    again = reuse({"slotID": 3, "virtualEnergy": 55.502, "posX": 2.0})  # both round to 55.5
    assert again is first and again == {"slotID": 3, "virtualEnergy": 55.5}
    moved = reuse({"slotID": 3, "virtualEnergy": 55.6, "posX": 2.0})
    assert moved is not first and moved["virtualEnergy"] == 55.6


def test_fast_round_is_round_to_the_bit():
    rng = random.Random(5)
    values = [rng.choice((1, -1)) * 10 ** rng.uniform(-7, 7) for _ in range(20000)]
    for decimals in range(5):  # exact decimal ties and their neighbours
        for k in range(-3000, 3000):
            tie = (k + 0.5) / 10**decimals
            values += [tie, math.nextafter(tie, math.inf), math.nextafter(tie, -math.inf)]
    values += [0.0, -0.0, 2.675, 1.005, 0.05, 1e300, -1e300, 5e-324, 123456789.98765]
    for value in values:
        for decimals in (1, 2, 3, 4):
            assert s.fast_round(value, decimals) == round(value, decimals), (value, decimals)
            # the copy written out inline in the one-pass shaper, sentinel rule included
            shaped = s._shaped({"t": value}, {"t": decimals}, frozenset())["t"]
            rounded = round(value, decimals)
            expected = value if rounded in (0.0, -1.0) and value != rounded else rounded + 0.0
            assert shaped == expected and type(shaped) is float, (value, decimals)
    assert math.isnan(s.fast_round(float("nan"), 2))
    assert s.fast_round(float("inf"), 3) == math.inf
