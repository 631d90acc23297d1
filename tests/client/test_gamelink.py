"""The links to the game (client.gamelink): GETs and their failures, the push feed's frames."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import pytest
from netutil import free_port, run_bounded

from client import gamelink
from client.gamelink import GameHttp, PushFeed, Refused
from sim.script import Weekend
from sim.server import Simulator
from sim.synthetic import generate_session


def run(coro, timeout: float = 20.0):
    return run_bounded(coro, timeout)


def race() -> Weekend:
    return Weekend([generate_session(seed=3, cars=8, duration=3600)])


def test_a_get_returns_status_and_body_over_kept_alive_connections():
    async def scenario():
        async with Simulator(race(), viewpoints=1, speed=10.0, start_et=600.0) as sim:
            http = GameHttp(sim.viewpoints[0].rest_url + "/", 2.0)
            try:
                status, body = await http.get("/rest/watch/standings")
                assert status == 200 and body.startswith(b"[") and b"slotID" in body
                status, _ = await http.get("/rest/no/such/endpoint")
                assert status == 404
                info = "/rest/watch/sessionInfo"
                many = await asyncio.gather(*(http.get(info) for _ in range(6)))
                assert all(s == 200 and b"currentEventTime" in b for s, b in many)
            finally:
                await http.close()

    run(scenario())


def test_a_closed_port_is_refused_and_a_silent_one_times_out():
    async def scenario():
        http = GameHttp(f"http://127.0.0.1:{free_port()}", 0.5)
        try:
            with pytest.raises(Refused):
                await http.get("/rest/sessions/GetGameState")
        finally:
            await http.close()
        with socket.socket() as silent:  # accepts connections (backlog) but never answers
            silent.bind(("127.0.0.1", 0))
            silent.listen(4)
            http = GameHttp(f"http://127.0.0.1:{silent.getsockname()[1]}", 0.5)
            try:
                with pytest.raises(TimeoutError):
                    await http.get("/rest/sessions/GetGameState")
            finally:
                await http.close()

    run(scenario())


def test_a_url_that_is_not_http_is_refused_at_once():
    with pytest.raises(ValueError, match="not an http"):
        GameHttp("ws://127.0.0.1:6397", 1.0)


def test_the_push_feed_keeps_the_newest_frame_of_each_topic_as_received():
    async def scenario():
        async with Simulator(race(), viewpoints=1, speed=10.0, start_et=600.0) as sim:
            feed = PushFeed(sim.viewpoints[0].ws_url)
            feed.start()
            try:
                for _ in range(100):
                    if len(feed.frames) == 2:
                        break
                    await asyncio.sleep(0.05)
                assert set(feed.frames) == {"LiveStandings", "SessionInfo"}
                frame, at = feed.frames["LiveStandings"]
                assert PushFeed.topic_of(frame) == "LiveStandings" and b'"body"' in frame
                assert feed.newest("LiveStandings", at) is frame
                assert feed.newest("LiveStandings", at + 60.0) is None  # stale
                assert feed.connected and feed.connects == 1
            finally:
                await feed.close()
            assert not feed.connected

    run(scenario())


def test_the_topic_is_read_from_text_frames_too():
    text = '{"body":[{"driverName":"\\"topic\\":\\"SessionInfo\\""}],'
    text += '"messageType":"UPDATE","topic":"LiveStandings"}'
    assert PushFeed.topic_of(text) == "LiveStandings"
    assert PushFeed.topic_of('{"topic": "SessionInfo", "body": {}}') == "SessionInfo"
    assert PushFeed.topic_of('{"topic":"Other"}') is None


def test_a_push_feed_that_never_opens_gives_up_and_retries():
    async def scenario():
        with socket.socket() as silent:  # accepts the connection, never answers the handshake
            silent.bind(("127.0.0.1", 0))
            silent.listen(4)
            feed = PushFeed(f"ws://127.0.0.1:{silent.getsockname()[1]}/websocket/ui")
            feed.start()
            try:  # the first try times out, the second comes after 1 s of backoff
                await asyncio.sleep(gamelink.WS_OPEN_TIMEOUT + gamelink.WS_BACKOFF[0] + 0.7)
                assert not feed.connected and feed.connects == 0
            finally:
                await feed.close()
            silent.setblocking(False)
            tries = 0
            with contextlib.suppress(BlockingIOError):
                while True:
                    silent.accept()[0].close()
                    tries += 1
            assert tries >= 2

    run(scenario())
