"""The pure parts: CSV cells, best-laps filters and shaping, strategy arithmetic, the stored
session's input and its cache (on a real SQLite store)."""

from __future__ import annotations

import asyncio
import csv
import io

import pytest
from analysis_harness import SEBRING, race, store_race

from server.store import Store
from server.tracking import Tracker
from server.tracking.events import (
    CarJoined,
    LapCompleted,
    PitEntered,
    PitExited,
    PitReleased,
    PitStopped,
)
from web.analysis import strategy
from web.analysis.bestlaps import FilterError, parse_filters, session_where, shape
from web.export import cell, to_csv
from web.history import TrackerCache, stored_input

# --- CSV -----------------------------------------------------------------------------------------


def test_cells_never_start_a_formula_and_keep_numbers():
    assert cell("=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0"
    for text in ("+1", "-x", "@SUM(A1)", "\tx", "\rx"):
        assert cell(text).startswith("'")
    assert cell(-1.5) == "-1.5" and cell(0) == "0" and cell(None) == ""
    assert cell(True) == "1" and cell(False) == "0"
    assert cell(["=a", "b"]) == "'=a,b"
    assert cell("Frank Riley") == "Frank Riley"


def test_csv_quotes_commas_quotes_and_newlines():
    rows = [{"a": 'say "hi", then\nleave', "b": 1.25, "c": None}]
    text = to_csv(rows, ("a", "b", "c"))
    assert list(csv.reader(io.StringIO(text))) == [
        ["a", "b", "c"],
        ['say "hi", then\nleave', "1.25", ""],
    ]


# --- best laps -----------------------------------------------------------------------------------


def test_filters_parse_and_bad_values_name_the_parameter():
    f = parse_filters({"since": "2026-01-02", "until": "2026-01-02", "online": "0",
                       "type": "race,QUALIFY1", "class": "GT3", "known": "1"})  # fmt: skip
    assert f.until - f.since == 86400.0  # until is inclusive: the whole day
    assert f.online is False and f.known_only and f.classes == ("GT3",)
    assert f.session_types == ("race", "QUALIFY1")
    for params, name in (
        ({"since": "2026-13-01"}, "since"),
        ({"online": "maybe"}, "online"),
        ({"known": "x"}, "known"),
    ):
        with pytest.raises(FilterError, match=name):
            parse_filters(params)
    where, params = session_where(parse_filters({"track": "O'Brien'; DROP TABLE laps; --"}))
    assert "DROP" not in where and params == ["O'Brien'; DROP TABLE laps; --"]


def _raw(driver, vehicle, cls, time, s, bs):
    return {
        "driver": driver, "vehicle": vehicle, "vehicle_name": vehicle, "car_class": cls,
        "team": "T", "number": "1", "car": "0-x", "session_id": "s", "session_type": "RACE1",
        "created_at": 1.0, "online": 1, "lap": 3, "lap_time": time, "s1": s[0], "s2": s[1],
        "s3": s[2], "compounds": None, "fuel": None, "ve": None, "bs1": bs[0], "bs2": bs[1],
        "bs3": bs[2], "laps": 5,
    }  # fmt: skip


def test_best_laps_colours_possible_and_sorting():
    rows = [
        _raw("A", "car1", "GT3", 90.0, (30.0, 30.0, 30.0), (29.5, 30.0, 30.0)),
        _raw("B", "car2", "GT3", 90.5, (29.0, 31.0, 30.5), (29.0, 30.8, 30.5)),
        _raw("C", "car3", "LMP2", 80.0, (-1.0, 40.0, 40.0), (27.0, 40.0, 40.0)),
    ]
    model = shape(rows, known=["B"], sort="time")
    a, b = model["rows"][1], model["rows"][2]
    assert [r["driver"] for r in model["rows"]] == ["C", "A", "B"]
    assert a["time_colour"] == "class" and b["time_colour"] == ""
    assert a["possible"] == pytest.approx(89.5)
    assert b["s1_colour"] == "class"  # 29.0 is the GT3 best sector 1
    assert a["s1_colour"] == ""  # 30.0: neither the class best (29.0) nor A's own (29.5)
    assert a["s2_colour"] == "class" and b["s3_colour"] == "driver"
    assert model["rows"][0]["s1"] is None and model["rows"][0]["s1_colour"] == ""
    assert b["known"] and not a["known"]
    assert [r["driver"] for r in shape(rows, [], sort="-driver")["rows"]] == ["C", "B", "A"]
    assert [r["rank"] for r in shape(rows, [], sort="-driver")["rows"]] == [1, 3, 2]
    with pytest.raises(FilterError):
        shape(rows, [], sort="speed")


# --- strategy ------------------------------------------------------------------------------------


def _car_with(levels: list[float | None], pit_laps=(), source="ve") -> Tracker:
    events: list = [CarJoined(0.0, "1-car", 1, "car", "Car", "Team", "7", "GT3", "Ann", 1, 0,
                              0.0, 0, 0, "FSTAT_NONE")]  # fmt: skip
    for n, level in enumerate(levels, start=1):
        fuel, ve = (level, None) if source == "fuel" else (None, level)
        lap = LapCompleted(n * 100.0, "1-car", n, 100.0, 30.0, 30.0, 40.0, True, "Ann", 1, 1,
                           (n - 1) * 100.0, n * 100.0, n in pit_laps, False, fuel, ve, None,
                           "live")  # fmt: skip
        events.append(lap)
    return Tracker.restore("RACE1", 4000.0, events)


def test_usage_rate_laps_left_and_projected_pit_lap():
    tracker = _car_with([0.95, 0.92, 0.89, 0.86, 0.99, 0.96, 0.93, 0.90], pit_laps=(5,))
    u = strategy.usage(tracker.cars["1-car"])
    assert u["source"] == "ve" and u["per_lap"] == pytest.approx(0.03)
    assert u["level"] == pytest.approx(0.90)
    assert u["laps_left"] == 30 and u["pit_lap"] == 8 + 30  # 0.90 / 0.03, not 29.999...
    fuel = strategy.usage(_car_with([0.5, 0.4, None, 0.3, 0.2], source="fuel").cars["1-car"])
    assert fuel["source"] == "fuel" and fuel["per_lap"] == pytest.approx(0.1)
    assert fuel["laps_left"] == 2 and fuel["pit_lap"] == 7
    assert strategy.usage(_car_with([None, None]).cars["1-car"])["laps_left"] is None


def test_pit_loss_against_green_laps_and_drive_time_limits():
    events: list = [CarJoined(0.0, "1-car", 1, "car", "Car", "Team", "7", "GT3", "Ann", 1, 0,
                              0.0, 0, 0, "FSTAT_NONE")]  # fmt: skip
    times = [100.0, 100.0, 100.0, 130.0, 125.0, 100.0, 100.0]
    start = 0.0
    for n, t in enumerate(times, start=1):
        if n == 4:
            events += [
                PitEntered(start + 90.0, "1-car", 1, 4),
                PitStopped(start + 100.0, "1-car", 1, 4),
                PitReleased(start + 125.0, "1-car", 1, 4),
            ]
        if n == 5:
            events.append(PitExited(start + 20.0, "1-car", 1, 5))
        events.append(LapCompleted(start + t, "1-car", n, t, 30.0, 30.0, t - 60.0, True, "Ann",
                                   1, 1, start, start + t, n in (4, 5), False, None, None, None,
                                   "live"))  # fmt: skip
        start += t
    tracker = Tracker.restore("RACE1", 4000.0, events)
    loss = strategy.pit_loss(tracker)
    assert loss["stops"] == 1
    assert loss["loss"] == pytest.approx(55.0)  # 130 + 125 - 2 x 100
    assert loss["stationary"] == pytest.approx(25.0) and loss["lane_loss"] == pytest.approx(30.0)
    assert loss["lane_time"] == pytest.approx(60.0)
    drives = strategy.drive_times(tracker.cars["1-car"], 600.0)
    assert drives[0]["driver"] == "Ann" and drives[0]["over"] is True
    assert drives[0]["left"] == pytest.approx(600.0 - drives[0]["seconds"])
    assert strategy.drive_times(tracker.cars["1-car"], None)[0]["left"] is None


# --- a stored session's input --------------------------------------------------------------------


def test_stored_input_restores_the_session_and_caches_closed_ones(tmp_path):
    item = race(SEBRING)

    async def scenario():
        cache = TrackerCache(size=2)
        async with Store(tmp_path / "db.sqlite") as store:
            await store_race(store, "s1", item, 1_000_000.0, True)
            first = await stored_input(store, "s1", 5.0, cache)
            again = await stored_input(store, "s1", 6.0, cache)
            assert await stored_input(store, "nope", 6.0, cache) is None
            # one more event: the cached tracker is stale, the session is restored again
            await store.append("s1", [item.events[-1]])
            fresh = await stored_input(store, "s1", 7.0, cache)
            return first, again, fresh, cache

    first, again, fresh, cache = asyncio.run(scenario())
    assert first.tracker.classification() == item.tracker.classification()
    assert first.meta["closed"] and first.meta["track"] == SEBRING and first.meta["cars"] == 14
    assert first.state is None and not first.live
    assert again.tracker is first.tracker and cache.hits == 1
    assert fresh.tracker is not first.tracker
