"""The event feed + chat view and the entry list view, from a synthetic race and a real Tracker."""

from __future__ import annotations

import re
from dataclasses import replace

import orjson
from views_race import XSS_NAME, race

from web import render
from web.views import entries as entries_view
from web.views import feed as feed_view
from web.views.carinfo import class_id, sender_names

XSS_ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


def test_feed_is_the_trackers_newest_first():
    r = race()
    model = feed_view.build(r.input())
    events = model["events"]
    assert model["events_total"] == len(r.tracker.feed)
    assert len(events) == min(feed_view.LIMIT, len(r.tracker.feed))
    assert [e["et"] for e in events] == sorted((e["et"] for e in events), reverse=True)
    assert events[0]["text"] == r.tracker.feed[-1].text
    kinds = {e["kind"] for e in events}
    assert {"pit_in", "pit_out", "swap", "class_best"} <= kinds, kinds
    orjson.dumps(model)


def test_filter_by_car_keeps_that_car_and_session_wide_lines():
    r = race()
    key = next(k for k, c in r.tracker.cars.items() if any(s.swaps for s in c.stops))
    model = feed_view.build(r.input(), car=key)
    assert model["filters"] == {"car": key, "car_class": None}
    assert {e["car"] for e in model["events"]} <= {key, None}
    mine = [i for i in r.tracker.feed if i.car == key]
    assert len([e for e in model["events"] if e["car"] == key]) == len(mine)
    assert any(e["kind"] == "swap" for e in model["events"])
    assert feed_view.build(r.input(), car="nope")["unknown_car"]


def test_filter_by_class_by_name_or_id():
    r = race()
    classes = {c.car_class for c in r.tracker.cars.values()}
    car_class = sorted(classes)[0]
    by_name = feed_view.build(r.input(), car_class=car_class)
    assert by_name["events"]
    assert {e["car_class"] for e in by_name["events"] if e["car"]} == {car_class}
    assert class_id(car_class) != "x"
    assert feed_view.build(r.input(), car_class=class_id(car_class))["events"] == by_name["events"]
    assert feed_view.build(r.input(), car_class="NoSuchClass")["events"] == [
        e for e in feed_view.build(r.input())["events"] if e["car"] is None
    ]


def test_sender_name_forms():
    assert sender_names("Foo") == ["Foo"]
    assert sender_names("Foo Bar") == ["F Bar"]
    assert sender_names("foo bar") == ["F bar"]
    assert sender_names("Foo Bar Baz") == ["F Bar Baz", "F Baz", "F B Baz"]
    assert sender_names("Maximilian Vandersteen-Lopez") == [
        "M Vandersteen-Lopez",
        "M Vandersteen-L",  # the game cuts names to 15 characters
    ]
    assert sender_names("") == []


def test_chat_lines_are_matched_to_cars_newest_first():
    r = race()
    model = feed_view.build(r.input())
    chat = model["chat"]
    assert chat, "the synthetic race has chat"
    stamps = [c["ticks"] for c in chat]
    assert stamps == sorted(stamps, reverse=True)
    matched = [c for c in chat if c["cars"]]
    assert matched, "some chat senders are members of a car"
    for line in matched:
        for key in line["cars"]:
            car = r.tracker.cars[key]
            entry = next(
                sc.entry
                for sc in r.script.cars
                if f"{sc.entry.slot_id}-{sc.entry.vehicle_file}" == key
            )
            names = {m.name for m in entry.members} | car.drivers()
            assert any(line["sender"] in sender_names(n) for n in names), line
    key = matched[0]["cars"][0]
    filtered = feed_view.build(r.input(), car=key)["chat"]
    assert filtered and all(key in c["cars"] for c in filtered)


def test_page_escapes_driver_names_and_chat_text():
    r = race()
    state = r.state_copy()
    state["chat"]["99999999999999999-0"] = {
        "message": f"Z Hacker: {XSS_NAME}",
        "timestamp": 99999999999999999,
    }
    model = feed_view.build(r.input(state=state))
    assert model["chat"][0]["message"] == XSS_NAME
    html = render.page("feed", model)
    assert XSS_NAME not in html and XSS_ESCAPED in html
    assert "style=" not in html and "<script>" not in html
    frags = render.model_fragments("feed", model)
    assert list(frags) == ["feed-list"]
    assert re.match(r'<div id="feed-list" [^>]*hx-swap-oob="true"', frags["feed-list"])


def test_entries_are_grouped_by_class_with_members_roles_badges_nationality():
    r = race()
    model = entries_view.build(r.input())
    keys = [e["key"] for g in model["groups"] for e in g["entries"]]
    assert sorted(keys) == sorted(r.tracker.cars) and model["cars"] == len(keys)
    names = [g["name"] for g in model["groups"]]
    assert len(names) == len(set(names)), "one group per class"
    order = ["Hyper", "LMP2", "LMP2_ELMS", "LMP3", "GTE", "GT3"]
    ranks = [order.index(n) if n in order else 99 for n in names]
    assert ranks == sorted(ranks)
    teams = r.state["teams"]["teams"]
    for group in model["groups"]:
        for entry in group["entries"]:
            assert entry["car_class"] == group["name"]
            assert entry["from_teams"], entry["key"]
            team = next(t for t in teams.values() if t["carNumber"] == entry["number"])
            assert [m["name"] for m in entry["members"]] == list(team["drivers"])
            for member in entry["members"]:
                info = team["drivers"][member["name"]]
                assert member["roles"] == info["roles"]
                assert member["nationality"] == (info["nationality"] or None)
                assert member["badge"] == (info.get("badge") or None)
            driving = [m for m in entry["members"] if m["driving"]]
            assert [m["name"] for m in driving] == [r.state["cars"][entry["key"]]["driverName"]]
    assert entries_view.flag("BE") == "\U0001f1e7\U0001f1ea" and entries_view.flag("") == ""
    html = render.page("entries", model)
    assert XSS_NAME not in html and XSS_ESCAPED in html and "style=" not in html


def test_entries_without_teams_fall_back_to_the_drivers_the_tracker_saw():
    r = race()
    state = r.state_copy()
    del state["teams"]
    model = entries_view.build(r.input(state=state))
    for group in model["groups"]:
        for entry in group["entries"]:
            assert not entry["from_teams"]
            seen = r.tracker.cars[entry["key"]].drivers()
            assert {m["name"] for m in entry["members"]} == seen


def test_every_view_renders_from_the_tracker_alone_and_from_nothing():
    """After a restart (no state until the next feed) and for a stored session."""
    r = race()
    key = next(iter(r.tracker.cars))
    for tracker in (r.tracker, None):
        inp = replace(r.input(), state=None, state_et=None, tracker=tracker)
        for view, params in (("car", {"car": key}), ("map", {}), ("feed", {}), ("entries", {})):
            module = render.view_module(view)
            model = module.build(inp, **params)
            orjson.dumps(model)
            if view == "car" and tracker is None:
                assert model["found"] is False  # nothing knows the car: the route says 404
                continue
            html = render.page(view, model)
            assert "<html" in html and XSS_NAME not in html
            render.model_fragments(view, model)
    stored = replace(r.input(), state=None, state_et=None)
    car = render.view_module("car").build(stored, car=key)
    assert len(car["laps"]) == r.tracker.cars[key].laps_done
    assert {d["key"] for d in render.view_module("map").build(stored)["cars"]} == set(
        r.tracker.cars
    )
