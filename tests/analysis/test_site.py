"""The analysis pages, downloads and API of finished sessions on a real server (real port,
real SQLite): the recorded races stored as the server stores them (`analysis_harness`)."""

from __future__ import annotations

import csv
import io
import re

import httpx
import pytest
from analysis_harness import CREATED, DAY, FORMULA_NAME, MONZA, SEBRING

from web.export import TABLES, cell

TABLE_KEYS = {"laps": "laps", "pit-stops": "pit_stops", "stints": "stints", "results": "results"}


@pytest.fixture(scope="module")
def http(site):
    with httpx.Client(base_url=site.url, timeout=30) as client:
        yield client


def test_csv_exports_round_trip_into_the_api_rows(site, http):
    sid = site.sessions["sebring"].session_id
    for name, (_, columns) in TABLES.items():
        api = http.get(f"/api/sessions/{sid}/{name}")
        assert api.status_code == 200, api.text
        rows = api.json()[TABLE_KEYS[name]]
        assert rows, name
        download = http.get(f"/sessions/{sid}/{name}.csv")
        assert download.status_code == 200
        assert download.headers["content-type"].startswith("text/csv")
        assert "attachment" in download.headers["content-disposition"]
        read = list(csv.reader(io.StringIO(download.text)))
        assert read[0] == list(columns), name
        assert read[1:] == [[cell(row[c]) for c in columns] for row in rows], name
    # the formula driver: plain text in the JSON, quoted in the CSV, never a bare formula
    laps = http.get(f"/api/sessions/{sid}/laps").json()["laps"]
    assert any(row["driver"] == FORMULA_NAME for row in laps)
    text = http.get(f"/sessions/{sid}/laps.csv").text
    cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
    assert "'" + FORMULA_NAME in cells
    assert not any(c.startswith(("=", "+", "@")) for c in cells)
    assert not any(c.startswith("-") and not _number(c) for c in cells)


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_api_rows_per_car_and_errors(site, http):
    sid = site.sessions["monza"].session_id
    results = http.get(f"/api/sessions/{sid}/results").json()["results"]
    winner = results[0]["car"]
    laps = http.get(f"/api/sessions/{sid}/laps", params={"car": winner}).json()["laps"]
    assert {row["car"] for row in laps} == {winner}
    assert len(laps) == results[0]["laps"]
    assert http.get(f"/api/sessions/{sid}/laps", params={"car": "nope"}).status_code == 404
    missing = http.get("/api/sessions/ffffffffffffffffffffffffffffffff/laps")
    assert missing.status_code == 404 and "error" in missing.json()
    assert http.get("/api/sessions", params={"since": "yesterday"}).status_code == 400
    assert http.get("/api/sessions", params={"page": "0"}).status_code == 400
    one = http.get(f"/api/sessions/{sid}").json()
    assert one["session"]["track"] == MONZA and one["session"]["closed"] is True
    strategy = http.get(f"/api/sessions/{sid}/strategy").json()
    assert [c["key"] for c in strategy["cars"]] == [r["car"] for r in results]
    assert strategy["max_drive_time"] == 3000.0


def test_api_sessions_filters_and_paging(site, http):
    everything = http.get("/api/sessions").json()
    assert everything["total"] == 3
    assert [s["session_id"] for s in everything["sessions"]] == [
        site.sessions[n].session_id for n in ("monza", "sebring", "sebring_offline")
    ]  # newest first
    offline = http.get("/api/sessions", params={"online": "0"}).json()
    assert [s["session_id"] for s in offline["sessions"]] == [
        site.sessions["sebring_offline"].session_id
    ]
    by_track = http.get("/api/sessions", params={"track": SEBRING, "type": "race"}).json()
    assert by_track["total"] == 2
    assert http.get("/api/sessions", params={"type": "practice"}).json()["total"] == 0
    paged = http.get("/api/sessions", params={"per_page": 2, "page": 2}).json()
    assert paged["pages"] == 2 and len(paged["sessions"]) == 1


def _best_by_hand(race, known: set[str] | None = None) -> dict[tuple[str, str], dict]:
    """Best lap and best sectors per (driver, vehicle file) from the tracker's laps."""
    out: dict[tuple[str, str], dict] = {}
    for car in race.tracker.cars.values():
        for lap in car.laps.values():
            if not lap.valid or lap.lap_time <= 0:
                continue
            if known is not None and lap.driver not in known:
                continue
            entry = out.setdefault((lap.driver, car.vehicle), {"time": 1e9, "s": [1e9] * 3})
            entry["time"] = min(entry["time"], lap.lap_time)
            for i, value in enumerate(lap.sector_times):
                if value > 0:
                    entry["s"][i] = min(entry["s"][i], value)
    return out


def test_best_laps_of_a_track_with_theoretical_best_and_filters(site, http):
    race = site.sessions["sebring"].race
    want = _best_by_hand(race)
    answer = http.get(f"/tracks/{SEBRING}/best-laps.json")
    assert answer.status_code == 200, answer.text
    model = answer.json()
    rows = model["rows"]
    assert {(r["driver"], r["vehicle_file"]) for r in rows} == set(want)
    assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)
    for row in rows:
        entry = want[(row["driver"], row["vehicle_file"])]
        assert row["time"] == pytest.approx(entry["time"])
        if all(s < 1e9 for s in entry["s"]):
            assert row["possible"] == pytest.approx(sum(entry["s"]), abs=1e-3)
            assert row["possible"] <= row["time"] + 1e-6
    fastest = rows[0]
    assert fastest["time_colour"] == "class"
    assert all(r["time_colour"] == "" for r in rows[1:] if r["car_class"] == fastest["car_class"])
    # the same lap is stored twice (online and offline copies): the earlier session wins a tie
    assert fastest["session_id"] == site.sessions["sebring_offline"].session_id
    online = http.get(f"/tracks/{SEBRING}/best-laps.json", params={"online": "1"}).json()
    assert {r["session_id"] for r in online["rows"]} == {site.sessions["sebring"].session_id}
    early = http.get(
        f"/tracks/{SEBRING}/best-laps.json",
        params={"until": _day(CREATED - 2 * DAY)},
    ).json()
    assert {r["session_id"] for r in early["rows"]} == {site.sessions["sebring_offline"].session_id}
    none = http.get(f"/tracks/{SEBRING}/best-laps.json", params={"type": "qualify"}).json()
    assert none["rows"] == []
    by_driver = http.get(f"/tracks/{SEBRING}/best-laps.json", params={"sort": "-driver"}).json()
    names = [r["driver"].casefold() for r in by_driver["rows"]]
    assert names == sorted(names, reverse=True)
    assert http.get(f"/tracks/{SEBRING}/best-laps.json", params={"sort": "x"}).status_code == 400
    assert http.get("/tracks/Nowhere/best-laps.json").status_code == 404


def test_pit_loss_of_a_track_matches_the_sessions_own(site, http):
    from web.analysis.strategy import pit_loss

    own = pit_loss(site.sessions["monza"].race.tracker)
    track = http.get(f"/api/tracks/{MONZA}/pit-loss").json()
    assert own["stops"] > 0
    assert track["stops"] == own["stops"] and track["sessions"] == 1
    assert track["loss"] == pytest.approx(own["loss"], abs=1e-3)
    assert track["lane_loss"] == pytest.approx(own["lane_loss"], abs=1e-3)
    both = http.get(f"/api/tracks/{SEBRING}/pit-loss").json()
    assert both["sessions"] == 2  # the same race stored twice: every stop counted twice
    assert both["stops"] == 2 * pit_loss(site.sessions["sebring"].race.tracker)["stops"]


def test_best_laps_known_drivers_from_the_table_and_the_config(site, http):
    import sqlite3

    race = site.sessions["sebring"].race
    names = sorted({lap.driver for car in race.tracker.cars.values() for lap in car.laps.values()})
    chosen = set([n for n in names if n != FORMULA_NAME][:2])
    with sqlite3.connect(site.database) as con:
        con.executemany("INSERT OR IGNORE INTO known_drivers (name) VALUES (?)",
                        [(n,) for n in chosen])  # fmt: skip
    try:
        model = http.get(f"/tracks/{SEBRING}/best-laps.json", params={"known": "1"}).json()
        want = (chosen | {FORMULA_NAME}) & {d for d, _ in _best_by_hand(race)}
        assert FORMULA_NAME in want and len(want) == 3
        assert {r["driver"] for r in model["rows"]} == want
        assert all(r["known"] for r in model["rows"])
        page = http.get(f"/tracks/{SEBRING}/best-laps").text
        assert "★" in page
    finally:
        with sqlite3.connect(site.database) as con:
            con.execute("DELETE FROM known_drivers")


def _day(ts: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%d")


INLINE = re.compile(r"<script(?![^>]*\bsrc=)|\sstyle=|\son[a-z]+=|hx-on", re.IGNORECASE)


def test_pages_render_with_their_json_twins(site, http):
    sid = site.sessions["sebring"].session_id
    results = http.get(f"/sessions/{sid}/results.json").json()
    page = http.get(f"/sessions/{sid}/results")
    assert page.status_code == 200
    for row in results["rows"]:
        assert f'data-car="{row["key"]}"' in page.text
    assert "Final classification" in page.text
    assert FORMULA_NAME.replace("'", "&#39;") in page.text  # shown as text (escaped)
    charts = http.get(f"/sessions/{sid}/charts.json").json()
    assert [c["id"] for c in charts["charts"]] == [
        "lap-chart", "gap-chart", "lap-times", "temperatures", "wetness"
    ]  # fmt: skip
    html = http.get(f"/sessions/{sid}/charts").text
    assert html.count("<svg") == 5
    assert 'id="strategy"' in html
    best = http.get(f"/tracks/{SEBRING}/best-laps", params={"sort": "possible"})
    assert best.status_code == 200 and 'aria-sort="ascending"' in best.text
    for text in (page.text, html, best.text):
        assert not INLINE.search(text), INLINE.search(text)
    assert http.get("/sessions/ffffffffffffffffffffffffffffffff/results").status_code == 404
    # the car page of a finished session (the car view, fed from the store)
    winner = results["rows"][0]["key"]
    car = http.get(f"/sessions/{sid}/cars/{winner}.json")
    assert car.status_code == 200, car.text
