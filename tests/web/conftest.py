"""Fixtures of the browser tests: Debian's chromium under Playwright, and a live race to watch.

The live stack is the real chain, each part on a free port: the simulator plays a small
synthetic race weekend (started at the race) in a background thread with two in-process team
clients beside it, and `python -m server` runs as a subprocess with a temp data dir (so a test
can kill it and start it again on the same port and database). Playwright never downloads a
browser: it drives /usr/bin/chromium. Without chromium the tests skip with the reason, except
in CI (CI=true), where a missing browser is a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from netutil import free_port

from client.app import ClientApp
from client.config import load as load_client_config
from server.store_rows import event_doc
from server.tracking import Tracker
from sim.script import Weekend
from sim.server import Simulator
from sim.synthetic import generate_weekend

log = logging.getLogger("tests.web")

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("LMUST_TEST_ARTIFACTS", REPO / "tests" / "artifacts")) / "web"

SPEED = 20.0  # game seconds per wall second: a lap every ~5 s
CLIENT_TICK = 0.2
XSS_NAME = "<img src=x onerror=alert(1)>"  # the driver name the pages must show as text
SYNTHETIC_HTML_NAME = "<b>Bold</b> Racer"  # the generator's own HTML-named driver


def slug(car_key: str) -> str:
    """The element id part of a car key, as web/render.py makes it."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", car_key)


def wait_for(check: Callable[[], Any], timeout: float, what: str, step: float = 0.2) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except (httpx.HTTPError, ValueError, KeyError, sqlite3.Error) as exc:
            last_error = exc
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} ({last_error!r})")


# --- the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go (git-ignored); kept after the run so a person can look at them."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


# --- the race ---------------------------------------------------------------------------------


def rename_driver(weekend: Weekend, old: str, new: str) -> int:
    """Rename a driver everywhere a script names them; returns how many places changed."""
    changed = 0
    for script in weekend.sessions:
        for car in script.cars:
            entry = car.entry
            for i, member in enumerate(entry.members):
                if member.name == old:
                    entry.members[i] = dataclasses.replace(member, name=new)
                    changed += 1
            if old in entry.steam_ids:
                entry.steam_ids[new] = entry.steam_ids.pop(old)
            if car.first_driver == old:
                car.first_driver = new
            for lap in car.laps:
                if lap.driver == old:
                    lap.driver = new
                    changed += 1
            for visit in car.pits:
                if visit.driver_in == old:
                    visit.driver_in = new
    return changed


def make_weekend() -> Weekend:
    """A small three-class weekend; its HTML-named driver becomes the classic XSS probe."""
    weekend = generate_weekend(
        seed=5,
        cars=14,
        race_duration=3600.0,
        classes=["Hyper", "LMP2", "GT3"],
        practice_duration=300.0,
        qualifying_duration=300.0,
    )
    assert rename_driver(weekend, SYNTHETIC_HTML_NAME, XSS_NAME) > 0, "no HTML-named driver"
    return weekend


class ServerProcess:
    """`python -m server` on a fixed free port and data dir, so it can be killed and restarted."""

    def __init__(self, root: Path, speed: float) -> None:
        self.data = root / "server"
        self.log = root / "server.log"
        self.port = free_port()
        self.speed = speed
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with self.log.open("a") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", str(self.port),
                 "--data-dir", str(self.data), "--max-time-scale", str(self.speed * 1.5)],
                cwd=self.data.parent, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1.0) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError("python -m server exited: " + self.tail())
                with contextlib.suppress(httpx.HTTPError):
                    if http.get(f"{self.url}/healthz").status_code == 200:
                        return
                time.sleep(0.1)
        raise AssertionError("python -m server did not start: " + self.tail())

    def kill(self) -> None:
        """SIGKILL, as a crash would: no goodbye to the browsers or the clients."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


class SimAndClients:
    """The simulator and two team clients in their own event loop, on a background thread."""

    def __init__(self, root: Path, weekend: Weekend, server_url: str, speed: float) -> None:
        self.root, self.weekend, self.server_url, self.speed = root, weekend, server_url, speed
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="sim", daemon=True)
        self.sim: Simulator | None = None
        self.apps: list[ClientApp] = []
        self.tasks: list[asyncio.Task] = []

    def call(self, coro, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> None:
        self.thread.start()
        self.call(self._start())

    async def _start(self) -> None:
        self.sim = Simulator(
            self.weekend, viewpoints=2, speed=self.speed, start_session=2, start_et=60.0,
            control_port=None,
        )  # fmt: skip
        await self.sim.__aenter__()
        for k, vp in enumerate(self.sim.viewpoints):
            config = load_client_config(
                self.root / f"client{k}.toml",
                overrides={
                    "server_url": self.server_url,
                    "name": f"member {k}",
                    "game_url": vp.rest_url,
                    "game_ws_url": vp.ws_url,
                    "tick": CLIENT_TICK,
                    "max_time_scale": self.speed * 1.5,
                    "key_file": f"client{k}.key",
                },
            )
            app = ClientApp(config)
            self.apps.append(app)
            self.tasks.append(asyncio.create_task(app.run(handle_signals=False)))

    def et(self) -> float:
        assert self.sim is not None
        return self.sim.clock.position().et

    def pause(self, paused: bool = True) -> None:
        """Freeze (or resume) the game clock: the clients then have nothing new to send."""
        sim = self.sim
        assert sim is not None

        async def flip() -> None:
            sim.pause(paused)

        self.call(flip())

    def stop(self) -> None:
        if self.thread.is_alive():
            with contextlib.suppress(Exception):
                self.call(self._stop(), timeout=30)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)

    async def _stop(self) -> None:
        for app in self.apps:
            app.stop()
        if self.tasks:
            _done, pending = await asyncio.wait(self.tasks, timeout=5)
            for task in pending:  # a client that does not stop in time must not hang the run
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.sim is not None:
            await self.sim.__aexit__(None, None, None)


@dataclasses.dataclass
class LiveStack:
    """What the tests see: the server (restartable), the race script, and helpers."""

    server: ServerProcess
    race: SimAndClients
    weekend: Weekend

    @property
    def url(self) -> str:
        return self.server.url

    def status(self) -> dict:
        return httpx.get(f"{self.url}/status.json", timeout=5).json()

    def live_race(self) -> dict | None:
        """The status entry of the race session, once it has laps."""
        for s in self.status().get("sessions", []):
            if s.get("session_type", "").upper().startswith("RACE") and s.get("laps", 0) > 0:
                return s
        return None

    @property
    def session_id(self) -> str:
        race = wait_for(self.live_race, 30, "a race session with laps on /status.json")
        return race["session_id"]

    def get_json(self, path: str) -> Any:
        r = httpx.get(f"{self.url}{path}", timeout=5)
        r.raise_for_status()
        return r.json()

    def game(self, path: str) -> Any:
        """What the first simulated game answers on its REST API (e.g. /rest/watch/standings)."""
        sim = self.race.sim
        assert sim is not None
        return httpx.get(f"{sim.viewpoints[0].rest_url}{path}", timeout=5).json()

    def tracker(self, session_id: str) -> Tracker:
        """The session's tracker rebuilt from the server's database (read-only): the facts."""
        conn = sqlite3.connect(f"file:{self.server.data / 'lmust.db'}?mode=ro", uri=True)
        try:
            session_type, track_length = conn.execute(
                "SELECT session_type, track_length FROM sessions WHERE session_id = ?",
                (session_id,),
            ).fetchone()
            rows = conn.execute(
                "SELECT et, kind, payload FROM events WHERE session_id = ? ORDER BY seq",
                (session_id,),
            ).fetchall()
        finally:
            conn.close()
        return Tracker.restore(session_type, track_length, [event_doc(*r) for r in rows])

    def xss_car_key(self) -> str:
        """The car key ("slot-vehicleFilename") of the car whose driver is the XSS probe."""
        race = self.weekend.sessions[-1]
        for car in race.cars:
            if any(m.name == XSS_NAME for m in car.entry.members):
                return f"{car.entry.slot_id}-{car.entry.vehicle_file}"
        raise AssertionError("no car has the XSS-named driver")


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    """A race being played right now: simulator -> 2 clients -> python -m server."""
    root = tmp_path_factory.mktemp("live")
    weekend = make_weekend()
    server = ServerProcess(root, SPEED)
    server.start()
    race = SimAndClients(root, weekend, server.url, SPEED)
    stack = LiveStack(server, race, weekend)
    try:
        race.start()
        wait_for(stack.live_race, 45, "a race session with laps on /status.json")
        yield stack
    except Exception:
        log.error("server log:\n%s", server.tail())
        raise
    finally:
        race.stop()
        server.stop()
