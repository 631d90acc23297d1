"""The sessions list and the session page on a real server: the HTML and its JSON twin say the
same, the live fragments have the page's element ids, unknown ids are 404s, bad parameters 400s.

A real authenticated client (`Driver`, from test_live_server) feeds a simulated race to the real
app (`LiveSessions`, SQLite in tmp_path) under uvicorn on a free port.
"""

from __future__ import annotations

import asyncio
import html
import re
import threading
import time
from datetime import UTC, datetime
from html.parser import HTMLParser

import httpx
from test_live_server import Driver, LiveServer, recv, split, until
from websockets.asyncio.client import connect

from sim.synthetic import generate_session, generate_weekend
from web import format as fmt

ROW = re.compile(r'<div id="(car-[^"]+)" role="row"[^>]*>(.*?)\n</div>', re.DOTALL)


def run(coro, timeout: float = 60.0):
    """`asyncio.run` in a thread of its own: the browser tests' sync Playwright fixture keeps an
    event loop running in the main thread for the rest of the pytest run."""
    result: dict = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(asyncio.wait_for(coro, timeout))
        except BaseException as exc:  # re-raised in the test's thread
            result["error"] = exc

    thread = threading.Thread(target=target, name="test-pages-loop")
    thread.start()
    thread.join(timeout + 15)
    assert not thread.is_alive(), "the scenario did not finish"
    if "error" in result:
        raise result["error"]
    return result.get("value")


async def fed_session(server: LiveServer, script, feeds: int = 12) -> tuple[Driver, str]:
    driver = await Driver(server.url("/ws/client"), script).connect()
    et = script.start_et + 900.0
    for _ in range(feeds):
        et += 1.0
        await driver.send(et)
        await asyncio.sleep(0.05)
    await driver.acked_up_to(await driver.send(et + 1.0))
    [session_id] = await until(lambda: list(server.feed.sessions), 5, "a session")
    return driver, session_id


COLUMNS = ("st", "pos", "pic", "class", "no", "make", "team", "driver", "laps", "gap",
           "interval", "class_gap", "class_interval", "best", "last", "s1", "s2", "s3",
           "tyres", "energy", "pits", "stint", "progress")  # fmt: skip


class Cells(HTMLParser):
    """The text of each role="cell" of one row, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self.depth = 0  # open spans inside the current cell

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "span" and ("role", "cell") in attrs:
            self.texts.append("")
            self.depth = 1
        elif tag == "span" and self.depth:
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.texts[-1] += data


def cells(row_html: str) -> dict[str, str]:
    parser = Cells()
    parser.feed(row_html)
    assert len(parser.texts) == len(COLUMNS), parser.texts
    return {name: text.strip() for name, text in zip(COLUMNS, parser.texts, strict=True)}


def assert_csp_ready(page: str) -> None:
    assert not re.search(r"<script(?![^>]*\bsrc=)", page), "an inline script"
    assert " style=" not in page and "<style" not in page, "an inline style"
    assert not re.search(r"\son[a-z]+=", page), "an inline event handler"
    assert "hx-on" not in page


def test_session_page_and_its_json_twin_agree(tmp_path):
    script = generate_session(seed=5, cars=12, duration=3600)

    async def scenario():
        server = await LiveServer(tmp_path).start()
        driver = None
        try:
            driver, sid = await fed_session(server, script)
            base = f"http://127.0.0.1:{server.config.port}"
            async with httpx.AsyncClient(timeout=10) as http:
                page = (await http.get(f"{base}/sessions/{sid}")).text
                twin = await http.get(f"{base}/sessions/{sid}.json")
                assert twin.headers["content-type"].startswith("application/json")
                model = twin.json()
                # the same live fragments the websocket sends (its full refresh on connect)
                async with connect(server.url(f"/ws/view?view=session&session={sid}")) as ws:
                    refresh = split(await recv(ws))
            return page, model, refresh, sid
        finally:
            if driver is not None:
                await driver.close()
            await server.stop()

    page, model, refresh, sid = run(scenario(), timeout=90)
    assert f'ws-connect="/ws/view?view=session&session={sid}"' in page
    assert_csp_ready(page)
    assert model["view"] == "session" and model["session_id"] == sid
    assert len(model["rows"]) == 12
    rows = ROW.findall(page)
    assert [element_id for element_id, _ in rows] == [r["id"] for r in model["rows"]]
    assert model["order"] == [r["id"] for r in model["rows"]]
    for (element_id, row_html), row in zip(rows, model["rows"], strict=True):
        got = cells(row_html)
        assert got["pos"] == str(row["position"]), element_id
        assert got["pic"] == str(row["class_position"])
        assert got["no"] == row["number"]
        assert got["driver"] == row["driver"]
        assert got["laps"] == str(row["laps"])
        assert got["gap"] == fmt.gap(row["gap"])
        assert got["interval"] == fmt.gap(row["interval"])
        assert got["class_gap"] == fmt.gap(row["class_gap"])
        assert got["best"] == fmt.lap_time(row["best"]["time"])
        assert got["last"] == fmt.lap_time(row["last"]["time"])
        for i in range(3):
            assert got[f"s{i + 1}"] == fmt.lap_time(row["sectors"][i]["time"])
        assert got["pits"] == str(row["pits"])
    header = model["header"]
    assert f">{header['track']}<" in page and header["session_type"] in page
    assert fmt.duration(header["remaining"]) in page
    # the page and its live updates use the same element ids
    assert set(refresh) >= {"session-header", "session-status", "standings-order"}
    assert {k for k in refresh if k.startswith("car-")} == {r["id"] for r in model["rows"]}
    for element_id in refresh:
        assert f'id="{element_id}"' in page


def test_sessions_list_live_and_stored_with_filters(tmp_path):
    script = generate_session(seed=9, cars=8, duration=3600)

    async def scenario():
        server = await LiveServer(tmp_path).start()
        driver = None
        try:
            driver, sid = await fed_session(server, script, feeds=10)
            base = f"http://127.0.0.1:{server.config.port}"
            out = {}
            async with httpx.AsyncClient(timeout=10) as http:
                out["page"] = (await http.get(f"{base}/")).text
                out["json"] = (await http.get(f"{base}/sessions.json")).json()
                today = datetime.fromtimestamp(time.time(), UTC).strftime("%Y-%m-%d")
                for name, query in {
                    "track": {"track": script.track.name},
                    "other_track": {"track": "Nowhere Ring"},
                    "race": {"type": "RACE"},
                    "race1": {"type": "RACE1"},
                    "qualify": {"type": "QUALIFY"},
                    "offline": {"network": "offline"},
                    "online": {"network": "online"},
                    "today": {"date": today},
                    "long_ago": {"date": "2001-01-01"},
                    "page2": {"page": "2"},
                }.items():
                    answer = await http.get(f"{base}/sessions.json", params=query)
                    assert answer.status_code == 200, (name, answer.text)
                    out[name] = [s["session_id"] for s in answer.json()["stored"]["rows"]]
            return out, sid
        finally:
            if driver is not None:
                await driver.close()
            await server.stop()

    out, sid = run(scenario(), timeout=90)
    page, model = out["page"], out["json"]
    assert_csp_ready(page)
    assert 'ws-connect="/ws/view?view=sessions"' in page
    assert [s["session_id"] for s in model["live"]] == [sid]
    live = model["live"][0]
    assert live["session_type"] == "RACE1" and live["cars"] == 8 and live["status"] == "active"
    assert f'href="/sessions/{sid}"' in page and 'id="live-sessions"' in page
    assert model["stored"]["total"] == 1 and model["stored"]["rows"][0]["live"]
    for name in ("track", "race", "race1", "online", "today"):
        assert out[name] == [sid], name
    for name in ("other_track", "qualify", "offline", "long_ago", "page2"):
        assert out[name] == [], name


def test_unknown_sessions_and_bad_parameters(tmp_path):
    script = generate_session(seed=3, cars=6, duration=3600)

    async def scenario():
        server = await LiveServer(tmp_path).start()
        driver = None
        try:
            driver, sid = await fed_session(server, script, feeds=10)
            base = f"http://127.0.0.1:{server.config.port}"
            async with httpx.AsyncClient(timeout=10) as http:
                missing = await http.get(f"{base}/sessions/0badc0de")
                assert missing.status_code == 404 and "0badc0de" in missing.text
                assert "text/html" in missing.headers["content-type"]
                missing_json = await http.get(f"{base}/sessions/0badc0de.json")
                assert missing_json.status_code == 404
                assert "0badc0de" in missing_json.json()["error"]
                for path, words in (
                    ("/?date=2026-13-45", "date must be YYYY-MM-DD"),
                    ("/?page=0", "page must be"),
                    ("/sessions.json?network=lan", "network must be online or offline"),
                    (f"/sessions/{sid}?group=colour", "unknown grouping"),
                    (f"/sessions/{sid}.json?group=colour", "unknown grouping"),
                ):
                    bad = await http.get(base + path)
                    assert bad.status_code == 400, path
                    assert words in html.unescape(bad.text), path
                status = await http.get(f"{base}/status")
                assert status.status_code == 200 and "Tracked sessions" in status.text
                assert (await http.get(f"{base}/status.json")).json()["sessions"]
                for path, kind in (
                    ("/static/app.css", "text/css"),
                    ("/static/app.js", "javascript"),
                    ("/static/vendor/htmx.min.js", "javascript"),
                    ("/static/vendor/htmx-ext-ws.js", "javascript"),
                ):
                    static = await http.get(base + path)
                    assert static.status_code == 200 and kind in static.headers["content-type"]
        finally:
            if driver is not None:
                await driver.close()
            await server.stop()

    run(scenario(), timeout=90)


def test_a_session_page_points_to_the_next_session_of_the_weekend(tmp_path):
    weekend = generate_weekend(
        seed=4, cars=6, race_duration=600, practice_duration=600, qualifying_duration=600
    )
    practice, qualifying = weekend.sessions[0], weekend.sessions[1]

    async def scenario():
        server = await LiveServer(tmp_path).start()
        driver = None
        try:
            driver, first = await fed_session(server, practice, feeds=10)
            base = f"http://127.0.0.1:{server.config.port}"
            async with httpx.AsyncClient(timeout=10) as http:
                before = (await http.get(f"{base}/sessions/{first}.json")).json()
                driver.script = qualifying  # the weekend moves on: same game server
                et = qualifying.start_et + 60.0
                for _ in range(12):
                    et += 1.0
                    await driver.send(et)
                    await asyncio.sleep(0.05)
                await driver.acked_up_to(await driver.send(et + 1.0))
                await until(lambda: len(server.feed.sessions) == 2, 5, "the second session")
                after = (await http.get(f"{base}/sessions/{first}.json")).json()
                page = (await http.get(f"{base}/sessions/{first}")).text
            return first, before, after, page
        finally:
            if driver is not None:
                await driver.close()
            await server.stop()

    first, before, after, page = run(scenario(), timeout=90)
    assert before["status"]["next_session"] is None
    following = after["status"]["next_session"]
    assert following is not None and following["session_type"] == "QUALIFY1"
    assert following["session_id"] != first
    href = f"/sessions/{following['session_id']}"
    assert f'id="follow-next" href="{href}" data-href="{href}"' in page
