"""A real server under attack: the app (LiveSessions, SQLite) on a free port in a background
thread, beside a simulated race streamed by one well-behaved real client (the "neighbour").

The tests are plain synchronous code (hypothesis drives them) talking to the server over real
sockets: `websockets.sync` for the wire, httpx for HTTP. Attacks come from other loopback
addresses (127.0.0.2, 127.0.0.3, ...: Linux routes all of 127/8 to `lo`) so the per-address
connection limits can be tested without ever limiting the neighbour, which connects from
127.0.0.1.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import itertools
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from websockets.sync.client import ClientConnection, connect

from client.app import ClientApp
from client.config import load
from client.identity import Identity
from client.normalize import normalize
from client.slim import slim
from schema import wire
from server import admin
from server.app import create_app, uvicorn_config
from server.arbiter import ArbiterConfig
from server.config import ServerConfig
from server.core import LiveSessions
from sim.render import game_answers
from sim.script import Weekend
from sim.server import Simulator
from sim.synthetic import generate_session
from web.security import SecurityHeaders

SPEED = 30.0  # the simulated race runs 30x real time: a lap of the short track every ~2.5 s
NEIGHBOUR_TRACK = "Sebring School Circuit"
_addresses = itertools.count(2)


def next_address() -> str:
    """A loopback address no other test of this run has used (127.0.0.2, 127.0.0.3, ...)."""
    n = next(_addresses)
    return f"127.0.{n // 250}.{n % 250 + 2}"


def identity() -> Identity:
    """A fresh client key (in memory: nothing on disk)."""
    return Identity(Path("memory"), Ed25519PrivateKey.generate())


@functools.cache
def _script(seed: int, track: str, cars: int):
    return generate_session(seed=seed, cars=cars, duration=3600, track=track)


# A game clock as fast as a test sends states, and sessions created after 0.2 s of confirmation.
FAST_ARBITER = ArbiterConfig(max_rate=1e6, confirm_after=0.2, confirm_jitter=1e6)


def race_state(seed: int, et: float, track: str = "Fuji Speedway", cars: int = 4) -> dict:
    """A client's state of a simulated race at `et`, exactly as the real client builds it."""
    return slim(normalize(game_answers(_script(seed, track, cars), et)))


def wired(config: ServerConfig, feed: LiveSessions) -> Starlette:
    """The real app with the security headers and the admin routes, whether or not app.py
    wires them yet (wired twice, the headers are only set once and the first route wins)."""
    app = create_app(config, feed)
    if not any(m.cls is SecurityHeaders for m in app.user_middleware):
        app.add_middleware(SecurityHeaders)
    paths = {getattr(r, "path", None) for r in app.router.routes}
    if "/admin/allow-list" not in paths:
        app.router.routes.extend(admin.routes(config))
    return app


class LiveServer:
    """The server (and, with `neighbour=True`, a simulator and one real client streaming a race
    to it) running in a background thread's event loop until `stop()`."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        neighbour: bool = True,
        arbiter: ArbiterConfig | None = None,
        **settings: Any,
    ) -> None:
        self.tmp_path = tmp_path
        self.config = ServerConfig(
            host="127.0.0.1", port=0, data_dir=tmp_path / "server", **settings
        )
        self.with_neighbour = neighbour
        self.arbiter = arbiter or ArbiterConfig(
            max_rate=SPEED * 1.5, backfill_after=2.0, takeover_after=1.0
        )
        self.port = 0
        self.feed: LiveSessions | None = None
        self.app: Starlette | None = None
        self.neighbour: ClientApp | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._ready: concurrent.futures.Future = concurrent.futures.Future()

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/client"

    def start(self) -> LiveServer:
        self._thread = threading.Thread(target=self._run, name="hostile-server", daemon=True)
        self._thread.start()
        self._ready.result(timeout=30)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(40)

    def call(self, coro, timeout: float = 10.0):
        """Run a coroutine in the server's loop (e.g. to read its state consistently)."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # a failed start must fail the test, not hang it
            if not self._ready.done():
                self._ready.set_exception(exc)
            raise

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self.feed = LiveSessions(self.arbiter, database=self.config.database)
        app = self.app = wired(self.config, self.feed)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn_config(self.config, app, timeout_graceful_shutdown=2))
        server.install_signal_handlers = lambda: None
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not serving.done():
            await asyncio.sleep(0.02)
        if not server.started:
            await serving  # raises what stopped it
        async with contextlib.AsyncExitStack() as stack:
            if self.with_neighbour:
                await self._start_neighbour(stack)
            self._ready.set_result(None)
            await self._stopping.wait()
            if self.neighbour is not None:
                self.neighbour.stop()
                await asyncio.wait_for(self._neighbour_task, 20)
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(serving, 10)

    async def _start_neighbour(self, stack: contextlib.AsyncExitStack) -> None:
        script = generate_session(seed=11, cars=6, duration=4 * 3600, track=NEIGHBOUR_TRACK)
        sim = await stack.enter_async_context(
            Simulator(Weekend([script]), viewpoints=1, speed=SPEED, start_et=60.0)
        )
        view = sim.viewpoints[0]
        config = load(
            self.tmp_path / "neighbour.toml",
            overrides={
                "server_url": f"http://127.0.0.1:{self.port}",
                "name": "neighbour",
                "game_url": view.rest_url,
                "game_ws_url": view.ws_url,
                "tick": 0.2,
                "max_time_scale": SPEED * 1.5,
                "key_file": "neighbour.key",
            },
        )
        self.neighbour = ClientApp(config)
        self._neighbour_task = asyncio.create_task(self.neighbour.run(handle_signals=False))

    # --- what the tests read ------------------------------------------------------------

    def status(self) -> dict:
        return httpx.get(f"{self.http}/status.json", timeout=10).json()

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.http}/healthz", timeout=10).text == "ok"
        except httpx.HTTPError:
            return False

    def neighbour_session(self, timeout: float = 30.0) -> dict:
        """The status entry of the neighbour's session, once it exists and has laps."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for session in self.status()["sessions"]:
                if session["track"] == NEIGHBOUR_TRACK and session["laps"] > 0:
                    return session
            time.sleep(0.2)
        raise AssertionError("the neighbour's session never showed laps")

    def neighbour_laps(self, session_id: str) -> int:
        for session in self.status()["sessions"]:
            if session["session_id"] == session_id:
                return session["laps"]
        raise AssertionError(f"session {session_id} is gone")

    def neighbour_errors(self) -> int:
        """Bad messages the server counted for the neighbour client (it never sends any)."""
        return sum(c["errors"] for c in self.status()["clients"] if c["name"] == "neighbour")

    def assert_neighbour_untouched(self, session_id: str, laps_before: int) -> None:
        """The server is up and the neighbour's race keeps counting laps, without errors."""
        assert self.healthy(), "the server stopped answering /healthz"
        deadline = time.monotonic() + 20
        while self.neighbour_laps(session_id) <= laps_before:
            assert time.monotonic() < deadline, "the neighbour's laps stopped counting"
            time.sleep(0.2)
        assert self.neighbour_errors() == 0


# --- the wire, by hand ------------------------------------------------------------------


def open_from(server: LiveServer, address: str, path: str = "/ws/client") -> ClientConnection:
    """A websocket to the server from the loopback `address` (the source of the TCP socket).

    Already entered (the tests hold many at once; they close them, or the server does)."""
    sock = socket.create_connection(
        ("127.0.0.1", server.port), timeout=10, source_address=(address, 0)
    )
    opener = connect(
        f"ws://127.0.0.1:{server.port}{path}", sock=sock, open_timeout=10, max_size=None
    )
    return opener.__enter__()


def handshake(ws: ClientConnection, who: Identity) -> dict:
    """hello -> challenge -> auth; the server's answer (welcome, or an error)."""
    ws.send(wire.encode(wire.hello(who.public_key, "hostile-1", "hostile")).decode())
    challenge = wire.decode(ws.recv(timeout=10), sender="server")
    assert challenge["type"] == "challenge", challenge
    nonce = wire.unb64(challenge["nonce"], wire.NONCE_BYTES)
    signed = wire.auth_message(nonce, challenge["server"], who.public_key)
    ws.send(wire.encode(wire.auth(who.sign(signed))).decode())
    return wire.decode(ws.recv(timeout=10), sender="server")


def answers(ws: ClientConnection, timeout: float = 10.0) -> list[dict]:
    """Every server message until the connection closes (each must be a valid message)."""
    out = []
    deadline = time.monotonic() + timeout
    with contextlib.suppress(Exception):  # closed: ConnectionClosed; the loop ends either way
        while time.monotonic() < deadline:
            out.append(wire.decode(ws.recv(timeout=deadline - time.monotonic()), sender="server"))
    return out


def close_code(ws: ClientConnection, timeout: float = 10.0) -> tuple[int | None, str]:
    """Wait for the server's close frame; its close code and reason (None if it never came)."""
    deadline = time.monotonic() + timeout
    while ws.protocol.close_rcvd is None and time.monotonic() < deadline:
        try:
            ws.recv(timeout=0.1)
        except TimeoutError:
            continue
        except Exception:  # closed
            break
    frame = ws.protocol.close_rcvd
    return (frame.code, frame.reason) if frame is not None else (None, "")
