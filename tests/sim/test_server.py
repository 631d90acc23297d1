"""The simulator over real sockets: REST, the push websocket, states, faults, the control API.

Tests drive a real `Simulator` on free ports with httpx and websockets clients. Most use the
hand-built race and a clock set by hand (deterministic and fast); the end-to-end ones use the
real engine, clock, generator and replay of recorded races.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time

import httpx
import orjson
import pytest
import websockets
from netutil import run_bounded
from websockets.asyncio.client import connect

import schema
from sim.render import REST
from sim.script import Weekend
from sim.server import Simulator
from sim.viewpoint import Viewpoint


def run(coro, timeout: float = 30.0):
    return run_bounded(coro, timeout)


def need(*modules: str) -> None:
    for name in modules:
        if importlib.util.find_spec(name) is None:
            pytest.skip(f"waiting for {name.replace('.', '/')}.py (written by another helper)")


def manual_sim(kit, script, *, et=200.0, viewpoints=(0, 1), **kw) -> Simulator:
    clock = kit.ManualClock(et=et)
    weekend = Weekend(sessions=[script])
    views = [Viewpoint(index=i, player_slot=s) for i, s in enumerate(viewpoints)]
    return Simulator(weekend, viewpoints=views, clock=clock, evaluate=kit.live_at, **kw)


async def get_all(client: httpx.AsyncClient, base: str) -> dict[str, httpx.Response]:
    responses = await asyncio.gather(*(client.get(base + path) for path in REST))
    return dict(zip(REST, responses, strict=True))


def check_documents(responses: dict[str, httpx.Response]) -> None:
    for path, response in responses.items():
        assert response.status_code == 200, path
        if not response.content:
            assert path == "/rest/strategy/overall", f"{path} answered an empty body"
            continue
        problems = schema.validate(REST[path].document, orjson.loads(response.content))
        assert problems == [], f"{path}: {[str(p) for p in problems[:5]]}"


async def collect_ws(url: str, seconds: float, topics=("LiveStandings", "SessionInfo")) -> list:
    frames = []
    async with connect(url) as ws:
        await ws.send("not json at all")  # the game ignores bad frames
        await ws.send(orjson.dumps({"messageType": "SUB", "topic": "Nope"}).decode())
        for topic in topics:
            await ws.send(orjson.dumps({"messageType": "SUB", "topic": topic}).decode())
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                raw = await asyncio.wait_for(ws.recv(), left)
            except TimeoutError:
                break
            frames.append(orjson.loads(raw))
    return frames


# --- hand-built race, clock set by hand ---------------------------------------------------------


def test_rest_answers_like_the_game(kit, race):
    async def main():
        async with manual_sim(kit, race) as sim:
            base = sim.viewpoints[0].rest_url
            async with httpx.AsyncClient() as client:
                responses = await get_all(client, base)
                check_documents(responses)
                for response in responses.values():
                    assert response.headers["content-type"] == "text/plain"
                info = responses["/rest/watch/sessionInfo"]
                assert orjson.loads(info.content)["currentEventTime"] == 200.0
                assert responses["/rest/multiplayer/join/state"].content == b'"JOIN_JOINED_SERVER"'
                missing = await client.get(base + "/rest/watch/nothing")
                assert missing.status_code == 404
                # one evaluation per tick, shared by both viewpoints and all endpoints
                await get_all(client, sim.viewpoints[1].rest_url)
                assert sim.feed.evaluations == 1

    run(main())


def test_viewpoints_share_facts_and_keep_private_ones(kit, race):
    async def main():
        async with manual_sim(kit, race, et=400.0) as sim, httpx.AsyncClient() as client:
            a = await get_all(client, sim.viewpoints[0].rest_url)
            b = await get_all(client, sim.viewpoints[1].rest_url)
        sa = orjson.loads(a["/rest/watch/standings"].content)
        sb = orjson.loads(b["/rest/watch/standings"].content)
        private = {"player", "fuelFraction", "focus", "hasFocus", "inControl"}
        for ra, rb in zip(sa, sb, strict=True):
            assert {k: v for k, v in ra.items() if k not in private} == {
                k: v for k, v in rb.items() if k not in private
            }
        assert [r["player"] for r in sa if r["slotID"] in (0, 1)] == [True, False]
        assert [r["player"] for r in sb if r["slotID"] in (0, 1)] == [False, True]
        for path in ("/rest/watch/standings/history", "/rest/chat/", "/rest/multiplayer/teams"):
            assert a[path].content == b[path].content, path
        ua = orjson.loads(a["/rest/strategy/usage"].content)
        ub = orjson.loads(b["/rest/strategy/usage"].content)
        assert "fuel" in ua["Driver 0A"][1] and "fuel" not in ub["Driver 0A"][1]
        assert "tyres" in ub["Driver 1A"][1] and "tyres" not in ua["Driver 1A"][1]
        oa = dict(orjson.loads(a["/rest/strategy/overall"].content))
        ob = dict(orjson.loads(b["/rest/strategy/overall"].content))
        assert "fuel" in oa["Iron Dames"][0] and "fuel" not in ob["Iron Dames"][0]

    run(main())


def test_websocket_pushes_both_topics_at_5hz(kit, race):
    async def main():
        async with manual_sim(kit, race) as sim:
            frames = await collect_ws(sim.viewpoints[0].ws_url, 1.2)
            # a wrong path is refused at the handshake
            with pytest.raises(websockets.exceptions.InvalidStatus):
                async with connect(sim.viewpoints[0].ws_url.replace("/ui", "/other")):
                    pass
        return frames

    frames = run(main())
    by_topic = {"LiveStandings": [], "SessionInfo": []}
    for frame in frames:
        assert frame["messageType"] == "UPDATE"
        by_topic[frame["topic"]].append(frame)
    assert len(by_topic["LiveStandings"]) >= 6 and len(by_topic["SessionInfo"]) >= 6
    assert schema.validate("wsLiveStandings", by_topic["LiveStandings"][0]) == []
    assert schema.validate("wsSessionInfo", by_topic["SessionInfo"][0]) == []
    assert by_topic["SessionInfo"][0]["body"]["gamePhase"] == "GREEN"


def test_menu_closed_and_replay_states(kit, race):
    async def main():
        async with manual_sim(kit, race) as sim:
            view = sim.viewpoints[0]
            rest, ws_url = view.rest_url, view.ws_url
            async with httpx.AsyncClient() as client:
                await sim.set_state(0, "menu")
                info = await client.get(rest + "/rest/watch/sessionInfo")
                assert info.status_code == 200 and info.content == b""
                state = orjson.loads(
                    (await client.get(rest + "/rest/sessions/GetGameState")).content
                )
                assert state["MultiStintState"] == "DISABLED"
                assert (await client.get(rest + "/rest/watch/standings")).content == b"[]"
                assert (await client.get(rest + "/rest/multiplayer/teams")).content == b"null"
                join = await client.get(rest + "/rest/multiplayer/join/state")
                assert join.content == b'"JOIN_IDLE"'
                assert await collect_ws(ws_url, 0.4) == []  # no pushes outside a session

                await sim.set_state(0, "closed")
            async with httpx.AsyncClient() as client:
                with pytest.raises(httpx.ConnectError):
                    await client.get(rest + "/rest/sessions/GetGameState")
                with pytest.raises(OSError):
                    async with connect(ws_url, open_timeout=2):
                        pass
                await sim.set_state(0, "replay")
                assert view.rest_url == rest  # the game comes back on the same ports
                nav = orjson.loads((await client.get(rest + "/navigation/state")).content)
                assert nav == {"settingMode": "SETTING_REPLAY_PLAYBACK"}
                state = orjson.loads(
                    (await client.get(rest + "/rest/sessions/GetGameState")).content
                )
                assert state["isReplayActive"] is True
                assert len(await collect_ws(ws_url, 0.5)) >= 2

    run(main())


def test_faults_slow_500_empty_drift(kit, race):
    async def main():
        async with manual_sim(kit, race) as sim:
            base = sim.viewpoints[0].rest_url
            other = sim.viewpoints[1].rest_url
            async with httpx.AsyncClient() as client:
                sim.set_faults(0, {"endpoint": "/rest/watch/standings", "slow": 0.5})
                start = time.monotonic()
                slow = await client.get(base + "/rest/watch/standings")
                assert slow.status_code == 200 and time.monotonic() - start >= 0.45
                sim.set_faults(0, {"endpoint": "*", "http500": 1.0})
                assert (await client.get(base + "/rest/chat/")).status_code == 500
                assert (await client.get(other + "/rest/chat/")).status_code == 200
                sim.set_faults(0, {"endpoint": "sessionInfo", "empty": True})
                empty = await client.get(base + "/rest/watch/sessionInfo")
                assert empty.status_code == 200 and empty.content == b""
                sim.set_faults(
                    0,
                    {
                        "rules": [
                            {
                                "endpoint": "standings",
                                "drift": {"from": "lapsCompleted", "to": "lapsComplete"},
                            },
                            {"endpoint": "LiveStandings", "drift": {"drop": "virtualEnergy"}},
                        ]
                    },
                )
                rows = orjson.loads((await client.get(base + "/rest/watch/standings")).content)
                assert all("lapsComplete" in r and "lapsCompleted" not in r for r in rows)
                assert schema.validate("standings", rows) != []
                frames = await collect_ws(sim.viewpoints[0].ws_url, 0.5, ("LiveStandings",))
                assert frames and all("virtualEnergy" not in r for r in frames[0]["body"])
                clean = orjson.loads((await client.get(other + "/rest/watch/standings")).content)
                assert all("lapsCompleted" in r for r in clean)
                sim.set_faults(0, {})
                rows = orjson.loads((await client.get(base + "/rest/watch/standings")).content)
                assert schema.validate("standings", rows) == []

    run(main())


def test_control_api(kit, race):
    async def main():
        async with (
            manual_sim(kit, race) as sim,
            httpx.AsyncClient(base_url=sim.control_url) as control,
        ):
            status = (await control.get("/sim/status")).json()
            assert [v["playerSlot"] for v in status["viewpoints"]] == [0, 1]
            assert status["viewpoints"][0]["restPort"] == sim.viewpoints[0].rest_port
            assert status["clock"]["et"] == 200.0
            r = await control.post("/sim/viewpoints/1", json={"state": "menu"})
            assert r.status_code == 200 and r.json()["state"] == "menu"
            assert (await control.post("/sim/viewpoints/1", json={"state": "x"})).status_code == 400
            assert (
                await control.post("/sim/viewpoints/9", json={"state": "menu"})
            ).status_code == 404
            r = await control.post("/sim/viewpoints/0/faults", json={"http500": 1})
            assert r.json()["faults"] == {"http500": 1}
            async with httpx.AsyncClient() as client:
                got = await client.get(sim.viewpoints[0].rest_url + "/rest/chat/")
                assert got.status_code == 500
            await control.post("/sim/viewpoints/0/faults", json={})
            r = await control.post("/sim/clock", json={"jump": {"session": 0, "et": 321.0}})
            assert r.json()["et"] == 321.0
            r = await control.post("/sim/clock", json={"speed": 4})
            assert r.json()["speed"] == 4.0 and sim.clock.speed == 4.0
            bad = await control.post("/sim/clock", json={"jump": {"et": "soon"}})
            assert bad.status_code == 400

    run(main())


def test_port_in_use_is_a_clear_error(kit, race):
    async def main():
        async with manual_sim(kit, race, viewpoints=(0,)) as sim:
            taken = sim.viewpoints[0].rest_port
            clash = Simulator(
                Weekend(sessions=[race]),
                viewpoints=[Viewpoint(index=0, player_slot=0, rest_port=taken)],
                clock=kit.ManualClock(),
                evaluate=kit.live_at,
            )
            with pytest.raises(OSError, match=f"port {taken}"):
                await clash.start()

    run(main())


# --- real engine, clock, generator and replay ---------------------------------------------------


def test_real_engine_and_clock_on_a_weekend(kit, weekend):
    need("sim.engine", "sim.timeline")

    async def main():
        async with (
            Simulator(weekend, viewpoints=[0, 1], speed=2.0, start_et=200.0) as sim,
            httpx.AsyncClient() as client,
        ):
            check_documents(await get_all(client, sim.viewpoints[0].rest_url))
            first = orjson.loads(
                (await client.get(sim.viewpoints[0].rest_url + "/rest/watch/sessionInfo")).content
            )
            await asyncio.sleep(0.6)
            second = orjson.loads(
                (await client.get(sim.viewpoints[0].rest_url + "/rest/watch/sessionInfo")).content
            )
            assert first["session"] == "QUALIFY1"
            assert 0.8 <= second["currentEventTime"] - first["currentEventTime"] <= 1.6
            sim.pause(True)
            sim.jump(1, 400.0)
            info = orjson.loads(
                (await client.get(sim.viewpoints[1].rest_url + "/rest/watch/sessionInfo")).content
            )
            assert info["session"] == "RACE1" and info["currentEventTime"] == 400.0

    run(main())


def test_synthetic_race_end_to_end(kit):
    need("sim.engine", "sim.timeline", "sim.synthetic")
    from sim.synthetic import generate_session

    script = generate_session(seed=7, session="RACE1", cars=12, duration=1800)
    weekend = Weekend(sessions=[script])

    async def main():
        async with (
            Simulator(weekend, viewpoints=2, speed=20.0, start_et=600.0) as sim,
            httpx.AsyncClient() as client,
        ):
            for view in sim.viewpoints:
                check_documents(await get_all(client, view.rest_url))
            frames = await collect_ws(sim.viewpoints[0].ws_url, 1.1)
        return frames

    frames = run(main())
    topics = [f["topic"] for f in frames]
    assert topics.count("LiveStandings") >= 5 and topics.count("SessionInfo") >= 5
    for frame in frames[:4]:
        name = "wsLiveStandings" if frame["topic"] == "LiveStandings" else "wsSessionInfo"
        assert schema.validate(name, frame) == []


def _recorded_weekend(kit):
    need("sim.engine", "sim.timeline", "sim.replay")
    db = kit.shared_db()
    from sim.replay import load_weekend

    return load_weekend(db, kit.RECORDED_RACE)


def test_replayed_race_validates(kit):
    weekend = _recorded_weekend(kit)
    script = weekend.sessions[-1]
    assert script.is_race

    async def main():
        async with (
            Simulator(
                weekend,
                viewpoints=2,
                speed=1.0,
                start_et=script.max_time / 2,
                start_session=len(weekend.sessions) - 1,
            ) as sim,
            httpx.AsyncClient() as client,
        ):
            for view in sim.viewpoints:
                check_documents(await get_all(client, view.rest_url))

    run(main())


def test_replayed_race_gives_the_recorded_lap_times(kit):
    weekend = _recorded_weekend(kit)
    index = len(weekend.sessions) - 1
    script = weekend.sessions[index]
    recorded = {
        car.entry.slot_id: {lap.number: lap.lap_time for lap in car.laps} for car in script.cars
    }

    async def main():
        checked = 0
        async with (
            Simulator(weekend, viewpoints=1, speed=1.0, start_session=index) as sim,
            httpx.AsyncClient(base_url=sim.viewpoints[0].rest_url) as client,
        ):
            for fraction in (0.2, 0.45, 0.7, 0.95):
                sim.jump(index, script.max_time * fraction)
                rows = orjson.loads((await client.get("/rest/watch/standings")).content)
                history = orjson.loads((await client.get("/rest/watch/standings/history")).content)
                for row in rows:
                    laps = row["lapsCompleted"]
                    if laps in recorded[row["slotID"]]:
                        assert row["lastLapTime"] == pytest.approx(
                            recorded[row["slotID"]][laps], abs=1e-3
                        )
                        checked += 1
                    for lap in history[str(row["slotID"])][:-1]:
                        want = recorded[row["slotID"]][lap["totalLaps"]]
                        assert lap["lapTime"] == pytest.approx(want, abs=1e-3)
        return checked

    assert run(main()) > 20


def test_answers_do_not_wait_for_a_delayed_ack(kit, race):
    """Each REST answer is headers + body in two writes; without TCP_NODELAY on the accepted
    socket every answer stalls ~40 ms for the peer's delayed ACK (found by the truth test)."""

    async def main():
        async with (
            manual_sim(kit, race) as sim,
            httpx.AsyncClient(base_url=sim.viewpoints[0].rest_url) as client,
        ):
            await client.get("/rest/sessions/GetGameState")
            started = time.perf_counter()
            for _ in range(20):
                await client.get("/rest/sessions/GetGameState")
            return (time.perf_counter() - started) / 20

    assert run(main()) < 0.015
