"""The formatting rules of the pages: one way to write a lap time, a gap, a duration."""

from __future__ import annotations

import math

import pytest

from web import format as fmt
from web.render import environment


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (93.717, "1:33.717"),
        (40.24, "40.240"),
        (9.5, "9.500"),
        (59.9996, "1:00.000"),  # rounding carries into the minute
        (3723.004, "1:02:03.004"),
        (0, "-"),
        (-1.0, "-"),
        (None, "-"),
        (math.nan, "-"),
        ("93.7", "-"),
        (True, "-"),
    ],
)
def test_lap_time(seconds, text):
    assert fmt.lap_time(seconds) == text


@pytest.mark.parametrize(
    ("gap", "text"),
    [
        ({"laps": 0, "time": 1.2345}, "+1.234"),  # float: 1.2345 is 1.23449999...
        ({"laps": 0, "time": 1.2346}, "+1.235"),
        ({"laps": 0, "time": 75.004}, "+1:15.004"),
        ({"laps": 2, "time": 150.0}, "+2 L"),
        ({"laps": 1, "time": None}, "+1 L"),
        ({"laps": 0, "time": 0.0}, "+0.000"),  # level with the car ahead, not the leader
        ({"laps": 0, "time": None}, "-"),
        (None, "-"),
        ("+1.2", "-"),
    ],
)
def test_gap(gap, text):
    assert fmt.gap(gap) == text


def test_durations_and_clocks():
    assert fmt.duration(0) == "0:00:00"
    assert fmt.duration(1415.9) == "0:23:35"  # whole seconds elapsed
    assert fmt.duration(86399) == "23:59:59"
    assert fmt.duration(90061) == "25:01:01"  # a 24-hour race's elapsed time goes past a day
    assert fmt.duration(-5) == "-" and fmt.duration(None) == "-"
    assert fmt.short_duration(754) == "12:34"
    assert fmt.short_duration(3725) == "1:02:05"
    assert fmt.minutes(59) == "0 min" and fmt.minutes(7 * 60 + 59) == "7 min"
    assert fmt.minutes(3 * 3600 + 5 * 60) == "3 h 05" and fmt.minutes(None) == "-"
    assert fmt.time_of_day(48300.0) == "13:25"
    assert fmt.time_of_day(86400 + 60) == "00:01"
    assert fmt.clock(0) == "-"
    assert fmt.clock(1_800_000_000) == "08:00:00 UTC"
    assert fmt.date_time(1_800_000_000) == "2027-01-15 08:00"
    assert fmt.iso(1_800_000_000) == "2027-01-15T08:00:00Z"


def test_temperatures_percentages_and_ages():
    assert fmt.temperature(0) == "0.0 °C"  # zero is a temperature, not "no value"
    assert fmt.temperature(23.46) == "23.5 °C"
    assert fmt.temperature(None) == "-"
    assert fmt.percent(0.4567) == "46%"
    assert fmt.percent(0.4567, 2) == "45.67%"
    assert fmt.percent(-1) == "-"
    assert fmt.percent(0) == "0%"
    assert fmt.ago(0.5) == "now"
    assert fmt.ago(42) == "42 s ago"
    assert fmt.ago(3 * 60 + 5) == "3 min ago"
    assert fmt.ago(7200) == "2 h ago"
    assert fmt.ago(3 * 86400) == "3 d ago"
    assert fmt.phase_name(5) == "Green"
    assert fmt.phase_name(6) == "Full-course yellow"
    assert fmt.phase_name(42) == "Unknown (42)"
    assert fmt.phase_name(None) == "-"
    assert fmt.dash("") == "-" and fmt.dash(0) == 0


def test_the_filters_are_in_the_page_environment():
    env = environment()
    for name in fmt.FILTERS:
        assert name in env.filters
    out = env.from_string("{{ t | laptime }} {{ g | gap }} {{ n | pct }}").render(
        t=93.717, g={"laps": 1, "time": 3.0}, n=0.5
    )
    assert out == "1:33.717 +1 L 50%"
