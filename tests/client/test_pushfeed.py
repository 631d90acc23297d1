"""The game's push websocket (client.pushfeed): newest frame per topic, read in one burst per
tick, never pausing longer than the receive buffer allows, and the websocket rules kept."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import time

import orjson
import pytest
from netutil import run_bounded
from websockets.asyncio.server import serve

from client import pushfeed
from client.pushfeed import PushFeed
from sim.script import Weekend
from sim.server import Simulator
from sim.synthetic import generate_session


def run(coro, timeout: float = 20.0):
    return run_bounded(coro, timeout)


def race(cars: int = 8) -> Weekend:
    return Weekend([generate_session(seed=3, cars=cars, duration=3600)])


async def until(condition, timeout: float = 5.0, step: float = 0.05) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)


def test_the_push_feed_keeps_the_newest_frame_of_each_topic_as_received():
    async def scenario():
        async with Simulator(race(), viewpoints=1, speed=10.0, start_et=600.0) as sim:
            feed = PushFeed(sim.viewpoints[0].ws_url)
            feed.start()
            try:
                for _ in range(100):
                    await feed.catch_up()
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


def test_a_tick_reads_everything_pushed_since_the_last_one_in_one_read():
    """Twenty frames a second arrive; one read a tick takes them all and the newest is fresh."""

    async def scenario():
        async with Simulator(race(20), viewpoints=1, speed=1.0, start_et=600.0) as sim:
            feed = PushFeed(sim.viewpoints[0].ws_url)
            feed.start()
            try:
                await until(lambda: feed.connected)
                await asyncio.sleep(0.5)
                reads0, ticks, ets = feed.reads, 5, []
                for _ in range(ticks):
                    await asyncio.sleep(0.5)
                    started = time.monotonic()
                    await feed.catch_up()
                    frame, at = feed.frames["SessionInfo"]
                    assert at >= started  # read by this very catch-up
                    ets.append(orjson.loads(frame)["body"]["currentEventTime"])
                reads = feed.reads - reads0
                assert reads <= 2 * ticks, reads  # ~50 frames came in: not a read for each
                assert all(b > a for a, b in itertools.pairwise(ets))  # fresh each tick
                # the newest frame is the game's newest: at most one push interval behind
                info = orjson.loads(feed.frames["SessionInfo"][0])["body"]
                assert sim.status()["clock"]["et"] - info["currentEventTime"] < 0.35
            finally:
                await feed.close()

    run(scenario())


def test_a_pause_never_fills_more_of_the_receive_buffer_than_allowed():
    mb = 2**20
    for window in (0, 4096, 64 * 1024, 212_992, 4 * mb, 16 * mb):
        for rate in (None, 0.0, 10_000.0, 0.9 * mb, 3 * mb, 50 * mb):
            pause = pushfeed.safe_pause(window, rate)
            assert 0.0 <= pause <= pushfeed.MAX_PAUSE
            assert pause * max(rate or 0.0, pushfeed.RATE_FLOOR) <= pushfeed.SAFE_FILL * window
    # what the OS granted decides: a roomy buffer pauses for a tick, a small one not at all
    assert pushfeed.safe_pause(4 * mb, 0.9 * mb) >= 1.0
    assert pushfeed.safe_pause(32 * 1024, 0.9 * mb) < pushfeed.MIN_PAUSE


async def watched_without_ticks(seconds: float) -> tuple[int, int]:
    """(distinct receive times of the SessionInfo frame, socket reads) over `seconds` in which
    nothing calls `catch_up`."""
    async with Simulator(race(), viewpoints=1, speed=1.0, start_et=600.0) as sim:
        feed = PushFeed(sim.viewpoints[0].ws_url)
        feed.start()
        try:
            await until(lambda: "SessionInfo" in feed.frames)
            reads0, seen = feed.reads, set()
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                seen.add(feed.frames["SessionInfo"][1])
                await asyncio.sleep(0.02)
            return len(seen), feed.reads - reads0
        finally:
            await feed.close()


def test_bursts_only_where_a_short_read_means_a_drained_socket():
    loop = asyncio.new_event_loop()  # a selector loop here (Linux)
    try:
        assert pushfeed.reads_in_bursts(loop, secure=False)
        assert not pushfeed.reads_in_bursts(loop, secure=True)  # TLS re-chunks what it reads

        class Proactor(asyncio.AbstractEventLoop):  # stands for any loop that is not a selector
            pass

        assert not pushfeed.reads_in_bursts(Proactor(), secure=False)
    finally:
        loop.close()


@pytest.mark.parametrize("why", ["small receive buffer", "loop without bursts"])
def test_where_pausing_is_not_safe_or_not_sound_the_feed_reads_as_frames_come(monkeypatch, why):
    """When the OS keeps too little for a worthwhile pause, or the loop's reads cannot tell a
    drained socket, reading never pauses."""
    if why == "small receive buffer":
        monkeypatch.setattr(pushfeed, "RECEIVE_BUFFER", 4096)
    else:
        monkeypatch.setattr(pushfeed, "reads_in_bursts", lambda _loop, _secure: False)
    seen, _reads = run(watched_without_ticks(1.0))
    assert seen >= 6  # ten pushes a second, read as they came


def test_without_ticks_a_timer_still_drains_the_socket(monkeypatch):
    monkeypatch.setattr(pushfeed, "MAX_PAUSE", 0.3)
    seen, reads = run(watched_without_ticks(1.5))
    assert 4 <= seen <= 8  # a drain every 0.3 s, not one per push
    assert reads <= 8


def test_fragments_pings_and_the_games_close_are_handled():
    """A message in fragments is kept whole, a ping is answered at the next read, a close by
    the game ends the link and the feed connects again."""

    async def scenario():
        subscribed: list[str] = []
        pongs: list[float] = []

        async def game(ws):
            for _ in range(2):
                subscribed.append(orjson.loads(await ws.recv())["topic"])
            await ws.send('{"body":{"currentEventTime":1.5},"topic":"SessionInfo"}')
            await ws.send(["{", '"body":{"currentEventTime":2.5},', '"topic":"SessionInfo"}'])
            waiter = await ws.ping()
            pongs.append(await asyncio.wait_for(waiter, 5.0))
            await ws.close()

        async with serve(game, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            feed = PushFeed(f"ws://127.0.0.1:{port}/websocket/ui")
            feed.start()
            try:
                for _ in range(60):
                    await feed.catch_up()
                    if pongs:
                        break
                    await asyncio.sleep(0.05)
                frame = feed.frames["SessionInfo"][0]
                assert orjson.loads(frame)["body"]["currentEventTime"] == 2.5
                assert subscribed[:2] == ["LiveStandings", "SessionInfo"]
                assert pongs  # the feed answered the ping
                for _ in range(60):  # the game closed: after 1 s of backoff, a new link
                    await feed.catch_up()
                    if feed.connects == 2:
                        break
                    await asyncio.sleep(0.05)
                assert feed.connects >= 2
            finally:
                await feed.close()

    run(scenario())


def test_a_game_that_stops_pushing_is_connected_to_again(monkeypatch):
    monkeypatch.setattr(pushfeed, "WS_SILENCE", 0.5)

    async def scenario():
        async def game(ws):  # takes the subscriptions, then says nothing
            await ws.wait_closed()

        async with serve(game, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            feed = PushFeed(f"ws://127.0.0.1:{port}/websocket/ui")
            feed.start()
            try:  # 0.5 s of silence, 1 s of backoff, a new link
                await until(lambda: feed.connects >= 2, timeout=4.0)
                assert feed.frames == {}
            finally:
                await feed.close()

    run(scenario())


def test_the_topic_is_read_from_text_frames_too():
    text = '{"body":[{"driverName":"\\"topic\\":\\"SessionInfo\\""}],'
    text += '"messageType":"UPDATE","topic":"LiveStandings"}'
    assert PushFeed.topic_of(text) == "LiveStandings"
    assert PushFeed.topic_of('{"topic": "SessionInfo", "body": {}}') == "SessionInfo"
    assert PushFeed.topic_of('{"topic":"Other"}') is None


@pytest.mark.parametrize("answer", [None, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"])
def test_a_push_feed_that_never_opens_gives_up_and_retries(answer):
    """A port that accepts but never answers the handshake (it times out), or answers something
    that is not a websocket upgrade: no link, and another try after the backoff."""

    async def scenario():
        with socket.socket() as game:
            game.bind(("127.0.0.1", 0))
            game.listen(4)
            game.setblocking(False)
            feed = PushFeed(f"ws://127.0.0.1:{game.getsockname()[1]}/websocket/ui")
            feed.start()
            accepted: list[socket.socket] = []
            try:
                end = time.monotonic() + pushfeed.WS_OPEN_TIMEOUT + pushfeed.WS_BACKOFF[0] + 0.7
                while time.monotonic() < end:
                    with contextlib.suppress(BlockingIOError):
                        conn = game.accept()[0]
                        accepted.append(conn)
                        if answer is not None:
                            conn.sendall(answer)
                    await asyncio.sleep(0.05)
                assert not feed.connected and feed.connects == 0
            finally:
                await feed.close()
                for conn in accepted:
                    conn.close()
            assert len(accepted) >= 2

    run(scenario())
