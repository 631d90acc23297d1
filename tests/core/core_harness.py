"""The whole chain for the scenario tests: simulator -> real clients -> real server -> SQLite.

`CoreServer` runs the real app (default feed: `LiveSessions`) under uvicorn in the test's loop
on a free port, or as a `python -m server` subprocess (`ServerProcess`, for SIGKILL).
`TeamClient` is one in-process `ClientApp` beside one simulator viewpoint; it also plays the
part of the client that answers a backfill request (the plan switches the lap history on: it
reads the history from its game once and sends it with `Uplink.publish_backfill`).
`read_db` opens the database file read-only, the way a history page would.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import uvicorn
from netutil import free_port, run_bounded

from client.app import ClientApp
from client.config import load
from server.app import create_app, uvicorn_config
from server.arbiter import ArbiterConfig
from server.config import ServerConfig
from server.core import LiveSessions

REPO = Path(__file__).resolve().parents[2]
TICK = 0.2  # client tick, wall seconds


run = run_bounded


async def until(check, timeout: float, what: str, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(step)


async def until_et(sim, session_index: int, et: float, timeout: float = 60.0) -> None:
    """Wait until the simulator's clock reaches `et` of session `session_index`."""

    def reached() -> bool:
        pos = sim.clock.position()
        return pos.session_index > session_index or (
            pos.session_index == session_index and not pos.loading and pos.et >= et
        )

    await until(reached, timeout, f"session {session_index} ET {et}")


def arbiter_config(speed: float) -> ArbiterConfig:
    """Tolerances for a simulator at `speed`: clocks that fast, a short backfill trigger."""
    return ArbiterConfig(max_rate=speed * 1.5, backfill_after=2.0, takeover_after=1.0)


class CoreServer:
    """The real app with `LiveSessions` on a free port, in this event loop."""

    def __init__(self, tmp_path: Path, speed: float, port: int = 0) -> None:
        self.data = tmp_path / "server"
        self.config = ServerConfig(host="127.0.0.1", port=port or free_port(), data_dir=self.data)
        self.speed = speed
        self.feed: LiveSessions | None = None
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.config.port}"

    @property
    def database(self) -> Path:
        return self.config.database

    async def start(self) -> CoreServer:
        self.feed = LiveSessions(arbiter_config(self.speed), database=self.config.database)
        app = create_app(self.config, self.feed)
        server = uvicorn.Server(uvicorn_config(self.config, app, timeout_graceful_shutdown=2))
        server.install_signal_handlers = lambda: None
        self._server = server
        self._task = asyncio.create_task(server.serve())
        await until(lambda: server.started or self._task.done(), 10, "the server to start")
        assert server.started, "the server did not start"
        return self

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self._task, 10)
        self._server = self._task = None

    async def status(self) -> dict:
        async with httpx.AsyncClient() as http:
            return (await http.get(f"{self.url}/status.json", timeout=5)).json()

    async def __aenter__(self) -> CoreServer:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()


class ServerProcess:
    """`python -m server` as a subprocess (so it can be killed with SIGKILL)."""

    def __init__(self, tmp_path: Path, speed: float) -> None:
        self.data = tmp_path / "server"
        self.port = free_port()
        self.speed = speed
        self.proc: subprocess.Popen | None = None
        self.log = tmp_path / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database(self) -> Path:
        return self.data / "lmust.db"

    async def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        out = self.log.open("a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", str(self.port),
             "--data-dir", str(self.data), "--max-time-scale", str(self.speed * 1.5)],
            cwd=self.data.parent, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        out.close()
        deadline = time.monotonic() + 15
        async with httpx.AsyncClient() as http:
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, self.log.read_text()
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.url}/healthz", timeout=1)).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise AssertionError("python -m server did not start: " + self.log.read_text())

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(5)

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class TeamClient:
    """One team member's client beside viewpoint `index` of a simulator."""

    def __init__(
        self, tmp_path: Path, server_url: str, sim, index: int, speed: float, tag: str = ""
    ) -> None:
        vp = sim.viewpoints[index]
        tag = tag or str(index)
        self.sim, self.index = sim, index
        self.rest_url = vp.rest_url
        self.config = load(
            tmp_path / f"client{tag}.toml",
            overrides={
                "server_url": server_url,
                "name": f"member {tag}",
                "game_url": vp.rest_url,
                "game_ws_url": vp.ws_url,
                "tick": TICK,
                "max_time_scale": speed * 1.5,
                "key_file": f"client{tag}.key",
            },
        )
        self.app: ClientApp | None = None
        self._tasks: list[asyncio.Task] = []

    @property
    def client_id(self) -> str:
        assert self.app is not None and self.app.identity is not None
        return self.app.identity.client_id

    def start(self) -> TeamClient:
        self.app = ClientApp(self.config)
        self._tasks = [asyncio.create_task(self.app.run(handle_signals=False))]
        return self

    @property
    def backfills(self) -> int:
        """Lap histories the real client sent because the server's plan asked for them."""
        return self.app.backfills_sent if self.app is not None else 0

    async def stop(self) -> None:
        if self.app is None:
            return
        self.app.stop()
        _done, pending = await asyncio.wait(self._tasks, timeout=20)
        for task in pending:  # a client that does not stop in time must not hang the test
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.app = None


def read_db(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    return conn


def car_key(script_car) -> str:
    return f"{script_car.entry.slot_id}-{script_car.entry.vehicle_file}"


def scripted_laps(script, until_et: float) -> dict[tuple[str, int], object]:
    """(car key, lap) -> the scripted lap, for laps completed by `until_et`."""
    return {
        (car_key(car), lap.number): lap
        for car in script.cars
        for lap in car.laps
        if lap.end_et <= until_et
    }


def stored_laps(conn: sqlite3.Connection, session_id: str) -> dict[tuple[str, int], sqlite3.Row]:
    rows = conn.execute("SELECT * FROM laps WHERE session_id = ?", (session_id,)).fetchall()
    return {(row["car"], row["lap"]): row for row in rows}


def assert_events_in_order(conn: sqlite3.Connection, session_id: str) -> int:
    """Seqs 1..N without a hole, ET never going back, each lap completed exactly once."""
    rows = conn.execute(
        "SELECT seq, et, kind, payload FROM events WHERE session_id = ? ORDER BY seq",
        (session_id,),
    ).fetchall()
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    ets = [r["et"] for r in rows]
    assert all(a <= b for a, b in itertools.pairwise(ets)), "event ETs went back"
    import orjson

    seen: dict[tuple[str, int], int] = {}
    for r in rows:
        if r["kind"] == "lap_completed":
            doc = orjson.loads(r["payload"])
            key = (doc["car"], doc["lap"])
            seen[key] = seen.get(key, 0) + 1
    twice = {k: n for k, n in seen.items() if n > 1}
    assert not twice, f"laps reported more than once: {twice}"
    return len(rows)
