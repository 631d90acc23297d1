"""`/ws/view` on a real server: a real client feeds a simulated race, real websocket viewers watch.

The server is the real app (`LiveSessions`, SQLite in tmp_path) under uvicorn on a free port; the
driver is a real authenticated client sending a snapshot and merge patches of states built the
way the client builds them (`sim.render.game_answers` -> `client.slim.Slimmer`); the viewers are
`websockets` clients. The hub renders with the real `web.render.fragments`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import uvicorn
from netutil import free_port, run_bounded
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from server.app import create_app, uvicorn_config
from server.arbiter import ArbiterConfig
from server.config import ServerConfig
from server.core import LiveSessions
from web.live import frames

OOB_ID = re.compile(r'<(\w+)\b[^>]*?\bid="([^"]+)"[^>]*?\bhx-swap-oob="(\w+)"')


def run(coro, timeout: float = 60.0):
    return run_bounded(coro, timeout)


async def until(check, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
    return value


def fragment_ids(message: str) -> list[str]:
    """The element ids of the top-level OOB fragments of one message, in order."""
    return [m.group(2) for m in OOB_ID.finditer(message)]


def split(message: str) -> dict[str, str]:
    """Element id -> its fragment, for a message of concatenated top-level fragments."""
    starts = [(m.start(), m.group(2)) for m in OOB_ID.finditer(message)]
    ends = [at for at, _ in starts[1:]] + [len(message)]
    out = {}
    for (at, element_id), end in zip(starts, ends, strict=True):
        piece = message[at:end]
        if element_id not in out:  # a nested element with its own hx-swap-oob is not top-level
            out[element_id] = piece
    return out


class Driver:
    """One real client: hello, signed auth, a snapshot, then merge patches; reads the acks."""

    def __init__(self, url: str, script, player_slot: int = 0, stream: str = "drive") -> None:
        from client.slim import Slimmer

        self.url, self.script, self.player_slot, self.stream = url, script, player_slot, stream
        self.slimmer = Slimmer()
        self.previous: dict | None = None
        self.seq = 0
        self.acked = 0
        self.ws: ClientConnection | None = None
        self._reader: asyncio.Task | None = None

    def state(self, et: float) -> dict:
        from sim.render import game_answers

        answers = game_answers(self.script, et, player_slot=self.player_slot)
        return self.slimmer(answers)

    async def connect(self) -> Driver:
        from client.identity import Identity
        from schema import wire

        identity = Identity.load_or_create(Path(tempfile.mkdtemp()) / "key")
        self.ws = await connect(self.url, max_size=None, open_timeout=10)
        await self.ws.send(wire.encode(wire.hello(identity.public_key, "live-test", "driver")))
        challenge = wire.decode(await self.ws.recv(), sender="server")
        nonce = wire.unb64(challenge["nonce"], wire.NONCE_BYTES)
        signed = wire.auth_message(nonce, challenge["server"], identity.public_key)
        await self.ws.send(wire.encode(wire.auth(identity.sign(signed))))
        welcome = wire.decode(await self.ws.recv(), sender="server")
        assert welcome["type"] == "welcome", welcome
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        from schema import wire

        assert self.ws is not None
        async for raw in self.ws:
            msg = wire.decode(raw, sender="server")
            if msg["type"] == "ack":
                self.acked = max(self.acked, msg["seq"])
            elif msg["type"] in ("error", "resync"):
                raise AssertionError(f"the server said {msg}")

    def message(self, et: float, state: dict | None = None) -> bytes:
        """The next wire message: the state at `et` (or `state`) as a snapshot or a patch."""
        from schema import mergepatch, wire

        state = self.state(et) if state is None else state
        self.seq += 1
        if self.previous is None:
            msg = wire.snapshot(self.stream, self.seq, et, time.time(), state)
        else:
            patch = mergepatch.diff(self.previous, state) or {}
            msg = wire.patch(self.stream, self.seq, et, time.time(), patch)
        self.previous = state
        return wire.encode(msg)

    async def send(self, et: float, state: dict | None = None) -> int:
        assert self.ws is not None
        await self.ws.send(self.message(et, state))
        return self.seq

    async def acked_up_to(self, seq: int, timeout: float = 10.0) -> None:
        await until(lambda: self.acked >= seq, timeout, f"the ack of {seq}")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
        if self.ws is not None:
            await self.ws.close()


class LiveServer:
    """The real app with `LiveSessions` under uvicorn on a free port, in this event loop."""

    def __init__(self, tmp_path: Path) -> None:
        self.config = ServerConfig(host="127.0.0.1", port=free_port(), data_dir=tmp_path / "data")
        self.feed = LiveSessions(
            ArbiterConfig(max_rate=100.0, confirm_after=0.2), database=self.config.database
        )
        self.hub = None
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> LiveServer:
        app = create_app(self.config, self.feed)
        self.hub = app.state.hub
        server = uvicorn.Server(uvicorn_config(self.config, app, timeout_graceful_shutdown=2))
        server.install_signal_handlers = lambda: None
        self._server = server
        self._task = asyncio.create_task(server.serve())
        await until(lambda: server.started or self._task.done(), 10, "the server to start")
        assert server.started
        return self

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.config.port}{path}"

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, 10)


async def recv(ws: ClientConnection, timeout: float = 5.0) -> str:
    message = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(message, str), "viewers get text frames (htmx reads event.data as text)"
    return message


async def closed_with(url: str, send: list | None = None) -> tuple[int, str]:
    """Connect, send `send`, and return the code and reason the server closed with."""
    async with connect(url, open_timeout=5) as ws:
        for message in send or []:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(message)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code is not None
        return ws.close_code, ws.close_reason or ""


def test_full_refresh_then_only_changed_fragments_then_a_refresh_after_reconnect(tmp_path):
    from sim.synthetic import generate_session
    from web.sources import live_input

    script = generate_session(seed=5, cars=12, duration=1800)

    async def scenario():
        server = await LiveServer(tmp_path).start()
        driver = None
        try:
            driver = await Driver(server.url("/ws/client"), script).connect()
            et = script.start_et + 300.0
            for _ in range(8):  # past the arbiter's confirmation of a new session
                et += 1.0
                await driver.send(et)
                await asyncio.sleep(0.05)
            seq = await driver.send(et + 1.0)
            et += 1.0
            await driver.acked_up_to(seq)
            [session_id] = await until(lambda: list(server.feed.sessions), 5, "a session")
            view_url = server.url(f"/ws/view?view=session&session={session_id}")

            # 1. the full refresh: every live element of the page, at once
            async with connect(view_url, open_timeout=5) as viewer:
                first = await recv(viewer)
                page = split(first)
                from web.render import fragments

                expected = fragments("session", live_input(server.feed, session_id))
                assert set(page) == set(expected), "the refresh is not every element"
                assert len(page) > 3

                # 2. a later client update: only the fragments whose HTML changed
                await driver.send(et + 1.0)
                et += 1.0
                diff = split(await recv(viewer))
                assert diff, "an update produced an empty message"
                assert set(diff) <= set(page)
                for element_id, html in diff.items():
                    assert page[element_id] != html, f"{element_id} was sent unchanged"
                page.update(diff)
                topic = next(iter(server.hub.topics.values()))
                assert page == topic.last, "the viewer's page is not the server's"
                async with httpx.AsyncClient() as http:
                    url = f"http://127.0.0.1:{server.config.port}/status.json"
                    counters = (await http.get(url, timeout=5)).json()["live"]
                assert counters["viewers"] == 1 and counters["topics"] == 1
                assert counters["renders"] >= 2 and counters["bytes_sent"] >= len(first)

            # 3. a reconnect gets the full refresh again, as it is now; two viewers of one
            # update get the very same frame, compressed once (permessage-deflate without
            # server context takeover: the frame does not depend on the connection)
            async with connect(view_url, open_timeout=5) as viewer, connect(view_url) as other:
                again = split(await recv(viewer))
                assert set(again) == set(page), "a reconnect did not get the full refresh"
                same = [k for k in page if k != "session-status"]  # it shows the server's now
                assert [again[k] for k in same] == [page[k] for k in same]
                assert split(await recv(other)) == again
                [deflate] = viewer.protocol.extensions
                assert deflate.name == "permessage-deflate"
                assert deflate.remote_no_context_takeover
                built, written = frames.counters["frames_built"], frames.counters["frames_written"]
                await driver.send(et + 1.0)
                assert split(await recv(viewer)) == split(await recv(other))
                assert frames.counters["frames_written"] - written == 2
                assert frames.counters["frames_built"] - built == 1

            await until(lambda: server.hub.stats()["viewers"] == 0, 5, "viewers to leave")
            stats = server.hub.stats()
            assert stats["topics"] == 0 and stats["bytes_sent"] > len(first)
        finally:
            if driver is not None:
                await driver.close()
            await server.stop()

    run(scenario())


def test_bad_queries_and_garbage_get_clear_close_codes(tmp_path):
    async def scenario():
        server = await LiveServer(tmp_path).start()
        try:
            code, reason = await closed_with(server.url("/ws/view?view=standings&session=x"))
            assert (code, reason) == (1008, "unknown view 'standings'")
            code, reason = await closed_with(server.url("/ws/view?view=session"))
            assert (code, reason) == (1008, "view session needs a session")
            code, reason = await closed_with(server.url("/ws/view?view=session&session=nope"))
            assert (code, reason) == (1008, "unknown session nope")
        finally:
            await server.stop()

    run(scenario())


def test_garbage_from_a_viewer_is_ignored_then_closed_with_1003(tmp_path):
    from sim.synthetic import generate_session

    script = generate_session(seed=6, cars=4, duration=900)

    async def scenario():
        server = await LiveServer(tmp_path).start()
        driver = None
        try:
            driver = await Driver(server.url("/ws/client"), script).connect()
            et = script.start_et + 60.0
            for _ in range(8):
                et += 1.0
                seq = await driver.send(et)
                await asyncio.sleep(0.05)
            await driver.acked_up_to(seq)
            [session_id] = await until(lambda: list(server.feed.sessions), 5, "a session")
            # the sessions list (no session) and a car view; an unknown car is refused
            async with connect(server.url("/ws/view?view=sessions"), open_timeout=5) as viewer:
                assert "live-sessions" in split(await recv(viewer))
            car = next(iter(server.feed.sessions[session_id].tracker.cars))
            car_url = server.url(f"/ws/view?view=car&session={session_id}&car={quote(car)}")
            async with connect(car_url, open_timeout=5) as viewer:
                assert split(await recv(viewer))
            code, reason = await closed_with(
                server.url(f"/ws/view?view=car&session={session_id}&car=99-nope.veh")
            )
            assert (code, reason) == (1008, "unknown car 99-nope.veh")
            url = server.url(f"/ws/view?view=session&session={session_id}")
            async with connect(url, open_timeout=5) as viewer:
                await recv(viewer)
                # what htmx sends for a form: ignored, the socket stays open
                for _ in range(150):
                    await viewer.send('{"HEADERS": {"HX-Request": "true"}, "q": "x"}')
                await driver.send(et + 1.0)
                assert split(await recv(viewer))
                for i in range(99):  # garbage, text and binary
                    await viewer.send(b"\x00\xff" * i if i % 2 else "{not json" * i)
                await driver.send(et + 2.0)
                assert split(await recv(viewer)), "99 bad messages closed the socket"
                await viewer.send("one too many")
                with pytest.raises(ConnectionClosed):
                    while True:
                        await recv(viewer)
                assert viewer.close_code == 1003
                assert viewer.close_reason == "100 unexpected messages"
        finally:
            if driver is not None:
                await driver.close()
            await server.stop()

    run(scenario())
