"""Team-private merge: each car's private fields come from its own team's client."""

from __future__ import annotations

import copy

from arbiter_docs import fast_config, settle, sim_state, state

from server.arbiter import Arbiter
from server.private_parts import merge, private_parts
from sim.engine import evaluate
from sim.synthetic import generate_session

ET = 1500.0


def team_key(doc: dict, team: str) -> str:
    return next(k for k, t in doc["strategy"].items() if t["name"] == team)


def private_stops(doc: dict, key: str) -> list:
    return [s for s in doc["strategy"][key]["stops"].values() if "fuel" in s]


def three_members():
    script = generate_session(seed=21, cars=12, duration=3600)
    slots = {
        "a": script.cars[0].entry.slot_id,
        "b": script.cars[4].entry.slot_id,
        "c": script.cars[9].entry.slot_id,
    }
    arb = Arbiter(fast_config())
    views = {
        cid: (lambda et, s=slot, i=i: sim_state(script, et, s, index=i))
        for i, (cid, slot) in enumerate(slots.items())
    }
    settle(arb, "a", views["a"], ET - 1.0, now=0.0)
    arb.observe("b", views["b"](ET + 0.3), ET + 0.3, now=1.3)
    arb.observe("c", views["c"](ET + 0.6), ET + 0.6, now=1.6)
    return script, slots, arb, views


def test_every_cars_private_fields_come_from_its_own_teams_client():
    script, slots, arb, views = three_members()
    d = arb.observe("a", views["a"](ET + 1.0), ET + 1.0, now=2.0)
    assert d.feed and d.state is not None
    merged = d.state
    live = evaluate(script, ET + 1.0)
    docs = {cid: views[cid](ET + 1.0) for cid in slots}
    for cid, slot in slots.items():
        entry = live.car(slot).script.entry
        key = f"{slot}-{entry.vehicle_file}"
        team = team_key(merged, entry.team_name)
        own = docs[cid]
        # strategy: the team's private stop fields, exactly as its own client sees them
        assert private_stops(merged, team) == private_stops(own, team_key(own, entry.team_name))
        assert private_stops(merged, team), "every team with a client has fuel in its stops"
        # usage: the team's drivers' laps carry fuel and tyres
        drivers = [d for d, laps in own["usage"].items() if any("fuel" in r for r in laps.values())]
        assert drivers
        for driver in drivers:
            for lap_key, row in own["usage"][driver].items():
                assert merged["usage"][driver][lap_key]["fuel"] == row["fuel"]
                assert merged["usage"][driver][lap_key]["tyres"] == row["tyres"]
        # fuelFraction: never the full-tank quirk
        assert 0.0 < merged["cars"][key]["fuelFraction"] < 1.0
    # a's own car is a's `player` row: its fuel is its team's latest usage fuel, not 1.0
    a_key = next(k for k, r in docs["a"]["cars"].items() if r["player"])
    assert docs["a"]["cars"][a_key]["fuelFraction"] == 1.0
    a_laps = [r for laps in docs["a"]["usage"].values() for r in laps.values() if "fuel" in r]
    latest = max(a_laps, key=lambda r: r["lap"])["fuel"]
    assert merged["cars"][a_key]["fuelFraction"] == latest
    # other cars keep the live value the driving client sees (real for cars not its own)
    b_key = next(k for k, r in docs["b"]["cars"].items() if r["player"])
    assert merged["cars"][b_key]["fuelFraction"] == docs["a"]["cars"][b_key]["fuelFraction"]
    # teams without a client have no private fields
    other = next(c for c in live.cars if c.slot_id not in slots.values())
    assert private_stops(merged, team_key(merged, other.script.entry.team_name)) == []


def test_a_leaving_clients_private_parts_go_with_it():
    script, slots, arb, views = three_members()
    b_team = evaluate(script, ET).car(slots["b"]).script.entry.team_name
    arb.disconnect("b", now=1.8)
    d = arb.observe("a", views["a"](ET + 1.0), ET + 1.0, now=2.0)
    assert private_stops(d.state, team_key(d.state, b_team)) == []


def test_the_freshest_teammate_wins_and_inputs_are_not_mutated():
    def doc(et: float, fuel: float, watching: bool) -> dict:
        d = state(et, player=3)
        d["usage"] = {
            "Driver 3": {"7": {"lap": 7, "ve": 0.5, "fuel": fuel, "tyres": [90.0] * 4}},
            "Driver 4": {"7": {"lap": 7, "ve": 0.6}},
        }
        d["cars"]["3-VEH_03"]["fuelFraction"] = 1.0
        if watching:  # the spectating teammate's game has no usage for the other car
            del d["usage"]["Driver 4"]
        return d

    arb = Arbiter(fast_config())
    settle(arb, "driver", lambda et: doc(et, 0.40, False), 100.0, now=0.0)
    # the spectating teammate's game is a little ahead of the driver's (standby, not fed)
    assert arb.observe("mate", doc(102.4, 0.38, True), 102.4, now=1.9).reason == "standby"
    sent = doc(102.2, 0.40, False)
    before = copy.deepcopy(sent)
    d = arb.observe("driver", sent, 102.2, now=2.0)
    assert sent == before
    assert d.state["usage"]["Driver 3"]["7"]["fuel"] == 0.38  # the fresher view of car 3
    assert d.state["usage"]["Driver 4"]["7"] == {"lap": 7, "ve": 0.6}
    assert d.state["cars"]["3-VEH_03"]["fuelFraction"] == 0.38


def test_private_parts_and_merge_by_hand():
    mine = state(10.0, player=1)
    mine["strategy"] = {
        "Team 1": {
            "name": "Team 1",
            "stops": {
                "0": {"lap": 0, "fuel": 1.0, "tyres": {"fl": {"compound": "Soft", "usage": 100.0}}},
                "12": {"lap": 12, "fuel": 0.9},
            },
        },
        "Team 2": {"name": "Team 2", "stops": {"0": {"lap": 0}}},
    }
    mine["usage"] = {"Driver 1": {"11": {"lap": 11, "fuel": 55.0}}}  # percent is read as such
    parts = private_parts(mine, "1-VEH_01", 10.0)
    assert set(parts.strategy) == {"Team 1"} and parts.fuel == 0.9  # the stop at lap 12
    theirs = state(10.5, player=2)
    theirs["strategy"] = {
        "Team 1": {
            "name": "Team 1",
            "stops": {"0": {"lap": 0, "tyres": {"fl": {"compound": "Soft"}}}},
        },
        "Team 2": {"name": "Team 2", "stops": {"0": {"lap": 0, "fuel": 1.0}}},
    }
    merged = merge(theirs, [parts])
    assert merged["strategy"]["Team 1"]["stops"]["0"]["fuel"] == 1.0
    assert merged["strategy"]["Team 1"]["stops"]["0"]["tyres"]["fl"] == {
        "compound": "Soft",
        "usage": 100.0,
    }
    assert merged["strategy"]["Team 1"]["stops"]["12"] == {"lap": 12, "fuel": 0.9}
    assert merged["strategy"]["Team 2"] == theirs["strategy"]["Team 2"]
    assert merged["usage"]["Driver 1"]["11"]["fuel"] == 55.0
    # car 1 is not the driving client's own car: its live fuel stays
    assert merged["cars"]["1-VEH_01"]["fuelFraction"] == 0.5
    assert private_parts(state(1.0, player=None), None, 1.0) is None


def test_memoized_merge_equals_a_fresh_one_and_reuses_what_did_not_change():
    """The server's states come from merge patches, which keep unchanged subtrees as the same
    objects; with memos the result must equal a memo-less computation at every step, and an
    entry whose inputs did not change must be the very same object (its laps not rescanned)."""
    from schema import mergepatch

    script = generate_session(seed=5, cars=8, duration=3600)
    own_slot, other_slot = script.cars[0].entry.slot_id, script.cars[3].entry.slot_id
    parts_memo: dict = {}
    merge_memo: dict = {}
    mine = theirs = None
    last_merged = None
    reused = 0
    for step in range(40):
        et = 600.0 + step * 45.0  # about half a lap a step: usage grows every other step
        mine = mergepatch.apply(mine, mergepatch.diff(mine, sim_state(script, et, own_slot)))
        theirs = mergepatch.apply(
            theirs, mergepatch.diff(theirs, sim_state(script, et, other_slot))
        )
        fresh_parts = private_parts(mine, f"{own_slot}-x", et)
        parts = private_parts(mine, f"{own_slot}-x", et, parts_memo)
        assert parts == fresh_parts
        merged = merge(theirs, [parts], merge_memo)
        assert merged == merge(theirs, [fresh_parts])
        if last_merged is not None:
            for driver, laps in merged["usage"].items():
                before = last_merged["usage"].get(driver)
                if driver in parts.usage and laps == before:
                    assert laps is before, "an unchanged merged entry is rebuilt"
                    reused += 1
        last_merged = merged
    assert parts.usage, "the team's own laps carry private fields"
    assert reused > 10
