"""The car view model and its page, from a synthetic race fed through a real Tracker."""

from __future__ import annotations

import re

import orjson
import pytest
from views_race import XSS_NAME, race

from server.tracking.bests import Best
from web import render
from web.views import car as car_view


def pitted_car() -> str:
    """A car that made a fuel stop with a driver change."""
    r = race()
    for key, car in r.tracker.cars.items():
        if any(s.stop_et is not None and s.swaps for s in car.stops):
            return key
    raise AssertionError("no stop with a driver change in the race")


def test_laps_are_the_trackers_in_order_with_times_sectors_and_supplies():
    r = race()
    key = pitted_car()
    model = car_view.build(r.input(), car=key)
    record = r.tracker.cars[key]
    assert model["found"] and model["identity"]["key"] == key
    assert [row["lap"] for row in model["laps"]] == list(range(1, record.laps_done + 1))
    for row in model["laps"]:
        lap = record.laps[row["lap"]]
        assert row["time"] == lap.lap_time and row["driver"] == lap.driver
        assert row["sectors"] == [s if s > 0 else None for s in (lap.s1, lap.s2, lap.s3)]
        assert row["fuel"] == lap.fuel
    pit_laps = [row["lap"] for row in model["laps"] if row["pit"]]
    assert pit_laps and all("P" in model["laps"][n - 1]["marks"] for n in pit_laps)
    orjson.dumps(model)  # the JSON twin


def test_best_colours_follow_class_then_car_then_driver():
    best = Best(lap=(90.0, "a", 3, "X"), s1=(30.0, "a", 3, "X"))
    car = Best(lap=(91.0, "b", 2, "Y"))
    driver = Best(lap=(92.0, "b", 4, "Z"))
    bests = [best, car, driver]
    assert car_view._best_scope(90.0, "lap", bests) == "class"
    assert car_view._best_scope(89.5, "lap", bests) == "class"  # beats: still coloured
    assert car_view._best_scope(91.0, "lap", bests) == "car"
    assert car_view._best_scope(91.5, "lap", bests) == "driver"
    assert car_view._best_scope(92.5, "lap", bests) is None
    assert car_view._best_scope(-1.0, "lap", bests) is None
    assert car_view._best_scope(30.0, "s1", bests) == "class"
    assert car_view._best_scope(31.0, "s2", [None, None, None]) is None


def test_the_class_best_lap_of_the_race_is_purple_on_its_cars_page():
    r = race()
    for car_class, best in r.tracker.bests.by_class.items():
        time, key, number, _driver = best.lap
        row = car_view.build(r.input(), car=key)["laps"][number - 1]
        assert row["time"] == time and row["time_best"] == "class", car_class
        # every other valid lap of that car is slower: never the class colour
        others = car_view.build(r.input(), car=key)["laps"]
        assert all(o["time_best"] != "class" for o in others if o["lap"] != number)


def test_pit_stops_and_totals():
    r = race()
    key = pitted_car()
    model = car_view.build(r.input(), car=key)
    stops = r.tracker.cars[key].stops
    assert [s["number"] for s in model["stops"]] == [s.number for s in stops]
    first = stops[0]
    row = model["stops"][0]
    assert row["kind"] == "Stop" and row["stationary"] == first.stationary_time
    assert row["lane_time"] == pytest.approx(first.exit_et - first.entry_et)
    totals = model["stop_totals"]
    assert totals["visits"] == len(stops) and totals["stops"] == len(stops)
    assert totals["stationary_time"] == pytest.approx(sum(s.stationary_time for s in stops))
    assert totals["lane_time"] == pytest.approx(sum(s.exit_et - s.entry_et for s in stops))


def test_open_stop_counts_up_and_garage_time_is_apart():
    rows = [
        {"kind": "Stop", "lane_time": 60.0, "stationary": 30.0, "garage_time": None,
         "swaps": ["A → B"], "service_known": True},
        {"kind": "Drive-through", "lane_time": 25.0, "stationary": None, "garage_time": None,
         "swaps": [], "service_known": False},
        {"kind": "Garage", "lane_time": None, "stationary": None, "garage_time": 300.0,
         "swaps": [], "service_known": False},
    ]  # fmt: skip
    totals = car_view.stop_totals(rows)
    assert totals == {
        "visits": 2, "stops": 1, "drive_throughs": 1, "swaps": 1, "garage_visits": 1,
        "lane_time": 85.0, "stationary_time": 30.0, "garage_time": 300.0, "serviced": 1,
    }  # fmt: skip


def test_stints_and_drive_time_per_driver():
    r = race()
    key = pitted_car()
    model = car_view.build(r.input(), car=key)
    stints = r.tracker.cars[key].stints.stints
    assert [s["driver"] for s in model["stints"]] == [s.driver for s in stints]
    assert model["stints"][-1]["open"]
    # the open stint runs to "now" (the state's ET), not to the last line crossing
    assert model["stints"][-1]["duration"] == pytest.approx(r.et - stints[-1].start_et)
    total = sum(s["duration"] for s in model["stints"])
    assert sum(d["time"] for d in model["drive_times"]) == pytest.approx(total)
    assert sum(d["share"] for d in model["drive_times"]) == pytest.approx(1.0, abs=1e-3)
    summary = model["summary"]
    assert summary["stint"]["number"] == stints[-1].number
    assert summary["position"] == r.state["cars"][key]["position"]
    assert summary["pit_stops"] == len(r.tracker.cars[key].stops)


def test_missing_laps_show_as_placeholder_rows():
    r = race()
    key = pitted_car()
    record = r.tracker.cars[key]
    hidden = record.laps.pop(3)
    record.missing.add(3)
    try:
        rows = car_view.build(r.input(), car=key)["laps"]
    finally:
        record.laps[3] = hidden
        record.missing.discard(3)
    assert rows[2] == {"lap": 3, "missing": True}
    assert rows[3]["fuel_used"] is None  # no previous lap to compare with


def test_unknown_car_is_said_so_and_has_no_parts():
    r = race()
    model = car_view.build(r.input(), car="99-NOPE")
    assert model["found"] is False
    assert car_view.parts(model) == []


def test_page_and_fragments_escape_names_and_laps_part_changes_only_with_laps():
    r = race()
    key = r.xss_car()
    model = car_view.build(r.input(), car=key)
    html = render.page("car", model)
    assert XSS_NAME not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "style=" not in html and "<script>" not in html
    live = re.search(
        r'ws-connect="/ws/view\?view=car&(amp;)?session=race-1&(amp;)?car=([^"]+)"', html
    )
    assert live and live.group(3) == key
    frags = render.model_fragments("car", model)
    assert set(frags) == {"car-summary", "car-laps", "car-stops", "car-stints"}
    for element_id, fragment in frags.items():
        assert re.match(rf'<\w+ id="{element_id}"[^>]* hx-swap-oob="true"', fragment), element_id
    assert frags["car-laps"].startswith('<div id="car-laps"')  # a <tbody> would not parse
    # the prerendered (cached) laps table is the page's, plus the out-of-band attribute
    assert frags["car-laps"].replace(' hx-swap-oob="true"', "").strip() in html
    assert car_view.laps_fragment(model["laps"]) is car_view.laps_fragment(model["laps"])
    # between two feeds without a completed lap the laps body is byte-identical
    laps_done = r.tracker.cars[key].laps_done
    parts = []
    for et in (2400.0, 2402.0, 2404.0):
        state = r.states[et]
        if state["cars"][key]["lapsCompleted"] != laps_done:
            pytest.skip("a lap was completed in the window")
        built = car_view.build(r.input(state=state, et=et), car=key)
        parts.append(render.model_fragments("car", built))
    assert parts[0]["car-laps"] == parts[1]["car-laps"] == parts[2]["car-laps"]
    assert parts[0]["car-summary"] != parts[2]["car-summary"]  # this lap's running time


def test_use_per_lap_skips_pit_laps_and_projects_laps_left():
    rows = [
        {"lap": 1, "pit": False, "fuel": 0.9, "fuel_used": None, "ve": None, "ve_used": None},
        {"lap": 2, "pit": False, "fuel": 0.8, "fuel_used": 0.1, "ve": None, "ve_used": None},
        {"lap": 3, "pit": True, "fuel": 1.0, "fuel_used": None, "ve": None, "ve_used": None},
        {"lap": 4, "pit": False, "fuel": 0.95, "fuel_used": 0.05, "ve": None, "ve_used": None},
        {"lap": 5, "pit": False, "fuel": 0.87, "fuel_used": 0.08, "ve": None, "ve_used": None},
        {"lap": 6, "missing": True},
        {"lap": 7, "pit": False, "fuel": 0.7, "fuel_used": 0.09, "ve": None, "ve_used": None},
    ]
    # lap 4 follows a pit lap and lap 7 a missing one: only laps 2 and 5 count
    assert car_view.use_per_lap(rows, "fuel") == pytest.approx(0.09)
    assert car_view.use_per_lap(rows, "ve") is None
    r = race()
    key = pitted_car()
    summary = car_view.build(r.input(), car=key)["summary"]
    assert summary["fuel_per_lap"] and summary["fuel_per_lap"] > 0
    assert summary["fuel_laps_left"] == pytest.approx(
        summary["fuel"] / summary["fuel_per_lap"], abs=0.06
    )
