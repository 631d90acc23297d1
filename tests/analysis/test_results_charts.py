"""Results and charts of the recorded races (played through simulator -> client state ->
tracker): the order is the recorded final classification, and every chart has one series per
car with one point per lap it can show."""

from __future__ import annotations

import re

import pytest
from analysis_harness import MONZA, RECORDED_DB, SEBRING, race
from recorded_play import play_script, recorded_order

from web.analysis.charts import conditions, racing, svg
from web.analysis.results import results
from web.views import charts as charts_view
from web.views import results as results_view
from web.views.carinfo import class_id
from web.views.model import SessionInput

SERIES = re.compile(r'<g class="series[^"]*" data-series="([^"]*)" data-points="(\d+)">')
POLYLINE = re.compile(r'<polyline points="([^"]*)"/>')


@pytest.mark.parametrize("track", [SEBRING, MONZA])
def test_results_order_is_the_recorded_final_classification(track):
    item = race(track)
    want = recorded_order(RECORDED_DB, item.played.session_id, item.played.script)
    model = results(item.tracker)
    got = [row["key"] for row in model["rows"]]
    assert got == want
    assert [row["position"] for row in model["rows"]] == list(range(1, len(want) + 1))
    # class positions count up within each class; the class leader has no class gap, a
    # car that crossed the line has one
    seen: dict[str, int] = {}
    for row in model["rows"]:
        seen[row["car_class"]] = seen.get(row["car_class"], 0) + 1
        assert row["class_position"] == seen[row["car_class"]]
        if row["class_position"] == 1:
            assert row["class_gap"] is None
        elif row["laps"] > 0 and row["finish_et"] is not None:
            assert row["class_gap"] is not None, row["key"]


def test_timed_session_results_by_best_lap_with_class_gaps():
    """A synthetic qualifying (two classes): the order is by best reported lap time, cars
    without one last; class gaps are the differences of best laps in class. (The recorded
    qualifyings cannot serve here: the replay gives a car's final count-lap flag to all its
    laps, so most of their laps come out without a time.)"""
    from sim.synthetic import generate_session

    script = generate_session(seed=5, session="QUALIFY1", cars=12, duration=900,
                              classes=["GT3", "LMP2"])  # fmt: skip
    tracker = play_script(script, 1.0).tracker
    model = results(tracker)
    assert model["kind"] == "timed"
    best = {}
    for car in script.cars:
        times = [lap.lap_time for lap in car.laps if lap.lap_time > 0]
        best[f"{car.entry.slot_id}-{car.entry.vehicle_file}"] = min(times) if times else None
    timed = sorted((t, k) for k, t in best.items() if t is not None)
    got = [row["key"] for row in model["rows"]]
    assert got[: len(timed)] == [k for _, k in timed]
    leaders: dict[str, float] = {}
    for row in model["rows"]:
        if row["best"] is None:
            continue
        assert row["best"]["time"] == pytest.approx(best[row["key"]], abs=1e-3)
        leader = leaders.setdefault(row["car_class"], row["best"]["time"])
        if row["class_position"] > 1:
            assert row["class_gap"]["time"] == pytest.approx(row["best"]["time"] - leader, abs=2e-3)


def test_race_gaps_are_line_crossings_of_the_same_lap(sebring):
    tracker = sebring.tracker
    rows = results(tracker)["rows"]
    leader = tracker.cars[rows[0]["key"]]
    for row in rows[1:]:
        car = tracker.cars[row["key"]]
        gap = row["class_gap"]
        if car.laps_done == leader.laps_done and car.laps_done in car.laps:
            want = car.laps[car.laps_done].end_et - leader.laps[car.laps_done].end_et
            assert gap == {"laps": 0, "time": pytest.approx(want, abs=1e-3)}
        elif gap is not None and car.laps_done < leader.laps_done - 1:
            assert gap["laps"] >= 1


def test_best_lap_is_purple_only_when_it_is_the_class_best(sebring):
    rows = results(sebring.tracker)["rows"]
    best = min(r["best"]["time"] for r in rows if r["best"])
    marks = {r["best"]["time"]: r["best"]["colour"] for r in rows if r["best"]}
    assert marks[best] == "class"
    assert all(colour == "" for time, colour in marks.items() if time != best)
    assert {r["best"]["s1_colour"] for r in rows if r["best"]} <= {"class", "car", "driver", ""}


@pytest.mark.parametrize("track", [SEBRING, MONZA])
def test_each_chart_has_one_series_per_car_with_the_right_points(track):
    tracker = race(track).tracker
    for car_class in {car.car_class for car in tracker.cars.values()}:
        cars = [c for c in tracker.cars.values() if c.car_class == car_class]
        lines = {c.key: sum(1 for lap in c.laps.values() if lap.end_et is not None) for c in cars}
        timed = {c.key: sum(1 for lap in c.laps.values() if lap.lap_time > 0) for c in cars}
        for build, want in (
            (racing.lap_chart, lines),
            (racing.gap_chart, lines),
            (racing.lap_times_chart, timed),
        ):
            chart = build(tracker, car_class)
            assert {s["key"]: len(s["points"]) for s in chart["series"]} == want, chart["id"]
            drawn = _drawn(svg.render(chart))
            assert drawn == want, chart["id"]
        # positions in the lap chart: 1..n at every lap, no two cars sharing one
        chart = racing.lap_chart(tracker, car_class)
        by_lap: dict[float, list[float]] = {}
        for series in chart["series"]:
            for lap, position in series["points"]:
                by_lap.setdefault(lap, []).append(position)
        for positions in by_lap.values():
            assert sorted(positions) == list(range(1, len(positions) + 1))
    samples = len(tracker.conditions)
    assert samples > 10
    for chart in (conditions.temperature_chart(tracker), conditions.wetness_chart(tracker)):
        assert all(len(s["points"]) == samples for s in chart["series"])
        assert set(_drawn(svg.render(chart)).values()) == {samples}


def _drawn(markup: str) -> dict[str, int]:
    """Series key -> points, read back from the SVG (data-points and the polyline agree)."""
    out = {}
    groups = SERIES.findall(markup)
    lines = POLYLINE.findall(markup)
    assert len(groups) == len(lines)
    for (key, count), line in zip(groups, lines, strict=True):
        points = line.split()
        assert len(points) == int(count)
        out[key] = int(count)
    return out


def test_svg_escapes_game_text_and_has_no_inline_style():
    chart = {
        "id": "t",
        "title": "<script>x</script>",
        "x": {"label": "lap", "min": 0, "max": 2},
        "y": {"label": "s", "min": 0, "max": 1},
        "series": [
            {"key": 'a"b', "label": "<img src=x onerror=alert(1)>", "class_id": "gt3",
             "points": [[0, 0.5], [1, 2.0]], "marks": [[1, 2.0, "pit"]]},
        ],
        "bands": [{"from": 0, "to": 1, "label": "stint 1: <b>x</b>"}],
    }  # fmt: skip
    markup = svg.render(chart)
    assert "<img" not in markup and "<script>" not in markup and "<b>" not in markup
    assert "style=" not in markup
    assert 'data-series="a&quot;b"' in markup
    assert markup.count('class="mark mark-pit"') == 1


def test_views_render_pages_and_fragments(sebring):
    from web import render

    meta = {"session_id": "s1", "track": SEBRING, "session_type": "RACE1", "closed": False}
    inp = SessionInput(meta, sebring.tracker, None, None, None, 0.0)
    model = results_view.build(inp)
    frags = render.model_fragments("results", model)
    classes = {row["car_class"] for row in model["rows"]}
    assert set(frags) == {"results-head"} | {f"results-{render.slug(c)}" for c in classes}
    for element_id, html in frags.items():
        assert f'id="{element_id}"' in html and 'hx-swap-oob="true"' in html
    charts = charts_view.build(inp)
    frags = render.model_fragments("charts", charts)
    assert {f"chart-{c['id']}" for c in charts["charts"]} | {"strategy"} == set(frags)
    focus = charts["focus"]
    assert focus == model["rows"][0]["key"]
    assert class_id(charts["car_class"]) in frags["chart-lap-chart"]
