"""A real server on a real port for the ingest tests, a cuttable TCP proxy, and game states.

`RunningServer` runs uvicorn in the test's event loop with SQLite in `tmp_path` and a feed that
records every observation; `restart()` stops it and starts a new one on the same port and
database. `CutProxy` sits between a client and the server and can cut every connection at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import time
from pathlib import Path

import uvicorn
from netutil import run_bounded
from websockets.asyncio.client import ClientConnection, connect

from client import normalize as n
from client.identity import Identity
from schema import wire
from server.app import create_app, uvicorn_config
from server.config import ServerConfig
from server.feed import LatestStates, Observation
from sim.render import REST, game_answers
from sim.synthetic import generate_session

PATHS = tuple(p for p in n.REST_ENDPOINTS if p in REST)


def run(coro, timeout: float = 20.0):
    return run_bounded(coro, timeout)


async def until(check, timeout: float = 5.0, what: str = "condition") -> None:
    """Wait until `check()` is true (polling), or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class RecordingFeed(LatestStates):
    """The default feed, remembering every observation it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Observation] = []

    async def observe(self, obs: Observation) -> dict | None:
        self.seen.append(obs)
        return await super().observe(obs)

    def seqs(self, stream: str) -> list[int]:
        return [o.seq for o in self.seen if o.stream == stream]

    def state(self, stream: str) -> dict | None:
        states = [o.state for o in self.seen if o.stream == stream]
        return states[-1] if states else None


class RunningServer:
    def __init__(self, tmp_path: Path, **settings) -> None:
        self.config = ServerConfig(host="127.0.0.1", port=0, data_dir=tmp_path / "data", **settings)
        self.port = 0
        self.feeds: list[RecordingFeed] = []
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task | None = None

    @property
    def feed(self) -> RecordingFeed:
        return self.feeds[-1]

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/client"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> RunningServer:
        self.feeds.append(RecordingFeed())
        app = create_app(self.config, self.feed)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn_config(self.config, app, timeout_graceful_shutdown=2))
        server.install_signal_handlers = lambda: None  # older uvicorn; harmless otherwise
        self._server = server
        self._task = asyncio.create_task(server.serve(sockets=[sock]))
        await until(lambda: server.started or self._task.done(), what="the server to start")
        assert server.started, "the server did not start"
        return self

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self._task, 10)
        self._server = self._task = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def __aenter__(self) -> RunningServer:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()


class CutProxy:
    """A TCP proxy to `port` whose connections can all be cut at once (like a network blip)."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.port = 0
        self.cuts = 0
        self._transports: list[asyncio.WriteTransport] = []
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> CutProxy:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self.cut()
        assert self._server is not None
        self._server.close()

    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/client"

    def cut(self) -> None:
        self.cuts += 1
        for transport in self._transports:
            transport.abort()
        self._transports.clear()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.transport.abort()
            return
        self._transports += [writer.transport, up_writer.transport]

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))


async def raw_client(
    url: str, identity: Identity, *, protocol: int = 1, signer: Identity | None = None
) -> tuple[ClientConnection, dict]:
    """Open a websocket and do the handshake by hand; returns it and the server's last answer."""
    ws = await connect(url, open_timeout=5)
    hello = wire.hello(identity.public_key, "test-1", "raw")
    hello["protocol"] = protocol
    await ws.send(wire.encode(hello), text=True)
    first = wire.decode(await asyncio.wait_for(ws.recv(), 5), sender="server")
    if first["type"] != "challenge":
        return ws, first
    nonce = wire.unb64(first["nonce"], wire.NONCE_BYTES)
    signed = wire.auth_message(nonce, first["server"], identity.public_key)
    await ws.send(wire.encode(wire.auth((signer or identity).sign(signed))), text=True)
    return ws, wire.decode(await asyncio.wait_for(ws.recv(), 5), sender="server")


async def next_message(ws: ClientConnection, kind: str | None = None, timeout: float = 5.0):
    """The next server message (of `kind`, skipping others such as plans)."""
    deadline = time.monotonic() + timeout
    while True:
        raw = await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
        msg = wire.decode(raw, sender="server")
        if kind is None or msg["type"] == kind:
            return msg


@functools.cache
def race_states(seed: int = 3, cars: int = 8) -> tuple[dict, ...]:
    """Normalized client states of a synthetic race every 20 s, as the client reads the game."""
    script = generate_session(seed=seed, cars=cars, duration=900)
    return tuple(
        n.normalize(game_answers(script, float(et), paths=PATHS)) for et in range(30, 900, 20)
    )
