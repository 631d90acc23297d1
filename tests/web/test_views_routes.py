"""The car, map, feed and entry list pages on a real server: HTML, JSON twins, 404s, and the map's
2 Hz websocket updates between client feeds.

A real authenticated client (`Driver`, from test_live_server) feeds a simulated race to the real
app (`LiveSessions`, SQLite in tmp_path) under uvicorn on a free port.
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import httpx
from test_live_server import Driver, LiveServer, recv, run, split, until
from websockets.asyncio.client import connect

from sim.synthetic import generate_session


async def _fed_session(server: LiveServer, script) -> tuple[Driver, str, float]:
    driver = await Driver(server.url("/ws/client"), script).connect()
    et = script.start_et + 400.0
    for _ in range(10):  # past the arbiter's confirmation of a new session
        et += 1.0
        await driver.send(et)
        await asyncio.sleep(0.05)
    await driver.acked_up_to(await driver.send(et + 1.0))
    [session_id] = await until(lambda: list(server.feed.sessions), 5, "a session")
    return driver, session_id, et + 1.0


def test_pages_json_twins_and_not_found(tmp_path):
    script = generate_session(seed=5, cars=12, duration=1800)

    async def scenario():
        server = await LiveServer(tmp_path).start()
        driver = None
        try:
            driver, sid, _ = await _fed_session(server, script)
            key = next(iter(server.feed.sessions[sid].tracker.cars))
            base = f"http://127.0.0.1:{server.config.port}/sessions/{sid}"
            async with httpx.AsyncClient(timeout=10) as http:
                page = await http.get(f"{base}/cars/{quote(key)}")
                assert page.status_code == 200 and 'id="car-laps"' in page.text
                assert f"view=car&session={sid}&car={quote(key)}" in page.text
                twin = (await http.get(f"{base}/cars/{quote(key)}.json")).json()
                assert twin["found"] and twin["car"] == key and twin["laps"]
                for path in ("/cars/9-NOPE.VEH", "/cars/9-NOPE.VEH.json"):
                    missing = await http.get(base + path)
                    assert missing.status_code == 404, path
                    assert "9-NOPE.VEH" in missing.text
                for view in ("map", "feed", "entries"):
                    html = await http.get(f"{base}/{view}")
                    assert html.status_code == 200 and f"view={view}&session={sid}" in html.text
                    assert "style=" not in html.text
                    twin = (await http.get(f"{base}/{view}.json")).json()
                    assert twin["view"] == view and twin["session_id"] == sid
                assert len((await http.get(f"{base}/map.json")).json()["cars"]) == 12
                car_class = server.feed.sessions[sid].tracker.cars[key].car_class
                feed = await http.get(f"{base}/feed.json", params={"car_class": car_class})
                events = feed.json()["events"]
                assert events and {e["car_class"] for e in events if e["car"]} == {car_class}
                gone = await http.get(f"http://127.0.0.1:{server.config.port}/sessions/nope/map")
                assert gone.status_code == 404
        finally:
            if driver is not None:
                await driver.close()
            await server.stop()

    run(scenario(), timeout=90)


def test_map_cars_move_at_2hz_between_feeds_and_the_track_is_sent_once(tmp_path):
    script = generate_session(seed=5, cars=12, duration=1800)

    async def scenario():
        server = await LiveServer(tmp_path).start()
        driver = None
        try:
            driver, sid, _ = await _fed_session(server, script)
            async with connect(server.url(f"/ws/view?view=map&session={sid}")) as viewer:
                first = split(await recv(viewer))
                assert set(first) == {"map-track", "map-cars"}
                assert first["map-track"].count("<path") >= 2  # circuit (+ pit lane)
                # no client feed now: the dots still move, extrapolated by their velocity
                # (up to 1 s after the feed: later renders are the same and are not sent)
                later = split(await recv(viewer, timeout=3.0))
                assert set(later) == {"map-cars"}, "the static track was resent"
                assert later["map-cars"] != first["map-cars"]
                # a car page gets its four parts at once
                key = quote(next(iter(server.feed.sessions[sid].tracker.cars)))
                url = server.url(f"/ws/view?view=car&session={sid}&car={key}")
                async with connect(url) as car_viewer:
                    parts = split(await recv(car_viewer))
                    assert set(parts) == {"car-summary", "car-laps", "car-stops", "car-stints"}
        finally:
            if driver is not None:
                await driver.close()
            await server.stop()

    run(scenario(), timeout=90)
