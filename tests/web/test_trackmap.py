"""Track map geometry (web/trackmap.py) and the map view, on the simulator's rendered map."""

from __future__ import annotations

import math
import re

import pytest
from views_race import FED_AT, race

from web import render, trackmap
from web.views import map as map_view


def test_points_split_into_racing_line_and_pit_pieces_skipping_bad_ones():
    points = [
        {"type": 0, "x": 0.0, "y": 0.0, "z": 0.0},
        {"type": 0, "x": 5.0, "y": 0.0, "z": 0.0},
        {"type": 1, "x": 0.0, "y": 0.0, "z": 10.0},
        {"type": 1, "x": 5.0, "y": 0.0, "z": 10.0},
        {"type": 1, "x": 50.0, "y": 0.0, "z": 10.0},  # 45 m on: a second pit piece
        {"type": 1, "x": 55.0, "y": 0.0, "z": 10.0},
        {"type": 7, "x": 1.0, "y": 0.0, "z": 1.0},  # a grid slot: not drawn
        {"type": 0, "x": "10", "z": 0.0},  # malformed
        {"type": 0, "x": float("nan"), "z": 0.0},
        "junk",
        {"type": 0, "x": 10.0, "y": 0.0, "z": 5.0},
    ]
    track, pits = trackmap.split_points(points)
    assert track == [(0.0, 0.0), (5.0, 0.0), (10.0, 5.0)]
    assert pits == [[(0.0, 10.0), (5.0, 10.0)], [(50.0, 10.0), (55.0, 10.0)]]
    assert trackmap.split_points(None) == ([], [])
    assert trackmap.geometry([{"type": 0, "x": 1.0, "z": 1.0}]) is None


def test_projection_fits_the_viewbox_keeps_the_aspect_and_flips_z():
    proj = trackmap.fit([(0.0, 0.0), (200.0, 0.0), (200.0, 100.0), (0.0, 100.0)])
    corners = [proj(0.0, 0.0), proj(200.0, 0.0), proj(200.0, 100.0), proj(0.0, 100.0)]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    assert min(xs) == pytest.approx(trackmap.MARGIN) and max(xs) == pytest.approx(960.0)
    assert max(ys) - min(ys) == pytest.approx((max(xs) - min(xs)) / 2)  # aspect kept
    assert (min(ys) + max(ys)) / 2 == pytest.approx(500.0)  # centred
    assert proj(0.0, 100.0)[1] < proj(0.0, 0.0)[1]  # higher z is higher on the map


def test_extrapolation_is_capped_at_one_second():
    assert trackmap.extrapolate((0.0, 0.0), (50.0, -10.0), 0.5) == (25.0, -5.0)
    assert trackmap.extrapolate((0.0, 0.0), (50.0, -10.0), 7.0) == (50.0, -10.0)
    assert trackmap.extrapolate((0.0, 0.0), (50.0, -10.0), -3.0) == (0.0, 0.0)


def test_simulated_map_perimeter_start_line_and_half_lap():
    r = race()
    geo = trackmap.geometry(r.state["trackmap"])
    assert geo is not None and geo.pits, "the sim map has a racing line and a pit lane"
    length = r.state["session"]["lapDistance"]
    assert geo.length == pytest.approx(length, rel=0.02)
    d = trackmap.path_d(geo.track, geo.projection, closed=True)
    assert d.startswith("M") and d.endswith("Z") and d.count("L") == len(geo.track) - 1
    start = trackmap.line_across(geo, 0.0)
    mid = ((start["x1"] + start["x2"]) / 2, (start["y1"] + start["y2"]) / 2)
    assert math.dist(mid, geo.projection(*geo.track[0])) < 0.2
    (x, z), _ = trackmap.point_at(geo, 0.5)
    i = min(range(len(geo.track)), key=lambda k: math.dist(geo.track[k], (x, z)))
    assert geo.cumulative[i] == pytest.approx(geo.length / 2, rel=0.01)


def test_cars_are_drawn_on_the_track_where_the_game_says_they_are():
    r = race()
    model = map_view.build(r.input())
    assert model["track"]["has_map"] and len(model["cars"]) == len(r.state["cars"])
    geo = trackmap.geometry(r.state["trackmap"])
    drawn = [geo.projection(x, z) for x, z in geo.track]
    for path in geo.pits:
        drawn += [geo.projection(x, z) for x, z in path]
    for dot in model["cars"]:
        assert 0 <= dot["x"] <= trackmap.SIZE and 0 <= dot["y"] <= trackmap.SIZE
        nearest = min(math.dist((dot["x"], dot["y"]), p) for p in drawn)
        assert nearest < 8.0, f"{dot['key']} is {nearest:.1f} units off the circuit"
    # the leader is drawn last, on top
    assert model["cars"][-1]["position"] == 1


def test_sector_starts_are_estimated_within_a_few_metres():
    r = race()
    length = r.state["session"]["lapDistance"]
    truth = [e * length for e in r.script.track.sector_ends]
    seen = [0, 0]
    for et, state in [(r.et, r.state), *r.states.items()]:
        est = map_view.sector_starts(state["cars"], et)
        for i in (0, 1):
            if est[i] is not None:
                seen[i] += 1
                assert est[i] == pytest.approx(truth[i], abs=5.0)
    assert seen[0] and seen[1], "no state told where the sectors start"
    assert map_view.sector_starts({}, r.et) == [None, None]
    # a crossing too long ago tells nothing; a car in sector 1 bounds the estimate from below
    row = {"sector": "SECTOR2", "lapStartET": 0.0, "lapDistance": 900.0,
           "currentSectorTime1": 20.0, "carVelocity": {"velocity": 50.0}}  # fmt: skip
    assert map_view.sector_starts({"a": row}, 30.0) == [400.0, None]
    assert map_view.sector_starts({"a": row}, 200.0) == [None, None]
    behind = {"sector": "SECTOR1", "lapDistance": 450.0}
    assert map_view.sector_starts({"a": row, "b": behind}, 30.0) == [450.0, None]


def test_positions_move_by_velocity_between_feeds_for_at_most_one_second():
    r = race()
    at = {d["key"]: d for d in map_view.build(r.input(now=FED_AT))["cars"]}
    half = {d["key"]: d for d in map_view.build(r.input(now=FED_AT + 0.5))["cars"]}
    late = {d["key"]: d for d in map_view.build(r.input(now=FED_AT + 1.0))["cars"]}
    later = {d["key"]: d for d in map_view.build(r.input(now=FED_AT + 9.0))["cars"]}
    scale = trackmap.geometry(r.state["trackmap"]).projection.scale
    moved = 0
    for key, row in r.state["cars"].items():
        speed = row["carVelocity"]["velocity"]
        step = math.dist((at[key]["x"], at[key]["y"]), (half[key]["x"], half[key]["y"]))
        assert step == pytest.approx(speed * 0.5 * scale, abs=0.3)
        assert (later[key]["x"], later[key]["y"]) == (late[key]["x"], late[key]["y"])
        moved += step > 1
    assert moved >= len(r.state["cars"]) - 1  # (one may be parked in the pits)


def test_without_map_points_cars_go_round_a_circle_by_lap_distance():
    r = race()
    state = r.state_copy()
    del state["trackmap"]
    model = map_view.build(r.input(state=state))
    assert not model["track"]["has_map"]
    radius = trackmap.SIZE / 2 - trackmap.MARGIN
    for dot in model["cars"]:
        centre = math.dist((dot["x"], dot["y"]), (500.0, 500.0))
        assert centre == pytest.approx(radius, abs=0.2)
    # after a restart there is no state: the tracker still places every car
    no_state = map_view.build(r.input(state={}, tracker=True))
    assert {d["key"] for d in no_state["cars"]} == set(r.tracker.cars)


def test_followed_car_is_marked_and_drawn_on_top_and_the_html_is_escaped():
    r = race()
    key = r.xss_car()
    model = map_view.build(r.input(), car=key)
    assert model["selected"]["key"] == key and model["cars"][-1]["key"] == key
    assert model["cars"][-1]["selected"]
    assert map_view.build(r.input(), car="nope")["unknown_car"]
    html = render.page("map", model)
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "style=" not in html and "<script>" not in html
    frags = render.model_fragments("map", model)
    assert set(frags) == {"map-track", "map-cars"}
    for element_id, fragment in frags.items():
        assert re.match(rf'<div id="{element_id}" [^>]*hx-swap-oob="true"', fragment)
    # the track part is the same from one 2 Hz render to the next: it is not resent
    again = render.model_fragments("map", map_view.build(r.input(now=FED_AT + 0.5), car=key))
    assert again["map-track"] == frags["map-track"]
    assert again["map-cars"] != frags["map-cars"]


def test_direction_chevron_points_the_way_the_lap_goes():
    r = race()
    geo = trackmap.geometry(r.state["trackmap"])
    d = trackmap.arrow(geo, 0.02, size=16.0)
    left, tip, right = [tuple(map(float, p.split())) for p in d[1:].split("L")]
    ahead = geo.projection(*trackmap.point_at(geo, 0.03)[0])
    behind = geo.projection(*trackmap.point_at(geo, 0.01)[0])
    base = ((left[0] + right[0]) / 2, (left[1] + right[1]) / 2)
    assert math.dist(tip, ahead) < math.dist(base, ahead)
    assert math.dist(tip, behind) > math.dist(base, behind)
