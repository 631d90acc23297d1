"""End to end: the simulated game -> the client app -> a real server on a real port.

Also: a replay never sends `session` or `cars`; the server's plan reaches the schedule; a key
the server does not allow stops the client with one clear line; SIGINT ends `python -m client`
cleanly with exit code 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from netutil import free_port, run_bounded

from client.app import ClientApp, idle_state, publication
from client.config import load
from client.gamewatch import EventClock, GameStatus, GameView
from client.normalize import CHAT, GAME_STATE, NAVIGATION, SESSION_INFO, STANDINGS
from client.reader import Observation
from sim.script import Weekend
from sim.server import Simulator
from sim.synthetic import generate_session

REPO = Path(__file__).resolve().parents[2]


def need_server() -> None:
    for module in ("client.uplink", "client.identity", "server.app", "server.config"):
        if importlib.util.find_spec(module) is None:
            pytest.skip("waiting for client/uplink.py / server/app.py (written by another helper)")


def run(coro, timeout: float = 30.0):
    return run_bounded(coro, timeout)


@contextlib.asynccontextmanager
async def tracker_server(tmp_path: Path, **settings):
    """The real server app under uvicorn on a free port; yields (url, recording feed)."""
    import uvicorn

    from server.app import create_app
    from server.config import ServerConfig
    from server.feed import LatestStates

    class Recording(LatestStates):
        """The server's default feed, remembering every state a client sent."""

        def __init__(self) -> None:
            super().__init__()
            self.seen: list[dict] = []

        async def observe(self, obs):
            self.seen.append((obs.client.client_id, obs.state))
            return await super().observe(obs)

    feed = Recording()
    port = free_port()
    config = ServerConfig(host="127.0.0.1", port=port, data_dir=tmp_path / "server", **settings)
    app = create_app(config, feed)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    server.install_signal_handlers = lambda: None  # older uvicorn
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}", feed
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)


def client_config(tmp_path: Path, server: str, sim, index: int = 0, **over):
    vp = sim.viewpoints[index]
    return load(
        tmp_path / f"client{index}.toml",
        overrides={
            "server_url": server,
            "name": f"tester {index}",
            "game_url": vp.rest_url,
            "game_ws_url": vp.ws_url,
            "tick": 0.25,
            "max_time_scale": 10.0,
            "key_file": f"client{index}.key",  # two team members, two keys
            **over,
        },
    )


async def until(predicate, timeout: float = 10.0, step: float = 0.1) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        await asyncio.sleep(step)
    return False


def race_weekend():
    return Weekend([generate_session(seed=9, cars=10, duration=3600)])


# --- pure decisions -----------------------------------------------------------------------------


def observation(status: GameStatus, raw: dict, et=None, new=False) -> Observation:
    return Observation(0.0, raw, GameView(status, session="RACE1", track="X"), et, set(), new)


def test_only_a_live_session_is_streamed():
    raw = {
        GAME_STATE: {"MultiStintState": "MONITOR_MENU", "isReplayActive": True, "timeOfDay": 3.5},
        NAVIGATION: {"settingMode": "SETTING_REPLAY_PLAYBACK"},
        SESSION_INFO: {"currentEventTime": 100.0, "trackName": "X", "session": "RACE1"},
        STANDINGS: [{"slotID": 0, "vehicleFilename": "car", "lapsCompleted": 3}],
        CHAT: [{"message": "a", "timestamp": 1}],
    }
    clock = EventClock()
    state, et = publication(observation(GameStatus.REPLAY, raw, 100.0), clock, 0.0)
    assert set(state) == {"game"} and et == -1.0
    assert state["game"]["replay"] is True and "time_of_day" not in state["game"]
    state, et = publication(observation(GameStatus.IN_SESSION, raw, 100.0, True), clock, 1.0)
    assert {"game", "session", "cars", "chat"} <= set(state) and et == 100.0
    # An implausible jump is skipped, not sent.
    assert publication(observation(GameStatus.IN_SESSION, raw, 900.0), clock, 2.0) is None
    assert idle_state({}) == {"game": {"running": False}}


# --- end to end ---------------------------------------------------------------------------------


def test_simulator_to_client_to_server(tmp_path):
    need_server()

    async def scenario():
        async with (
            Simulator(race_weekend(), viewpoints=2, speed=10.0, start_et=600.0) as sim,
            tracker_server(tmp_path) as (url, feed),
        ):
            apps = [ClientApp(client_config(tmp_path, url, sim, i)) for i in range(2)]
            tasks = [asyncio.create_task(a.run(handle_signals=False)) for a in apps]
            try:
                # Both clients connect and stream the race; the server sees cars and a session.
                ok = await until(
                    lambda: (
                        len(feed.states) == 2
                        and all(len(s.get("cars", {})) == 10 for s in feed.states.values())
                    )
                )
                assert ok, ([list(s) for s in feed.states.values()], apps[0].console.lines,
                            [len(s.get("cars", {})) for s in feed.states.values()])  # fmt: skip
                async with httpx.AsyncClient() as http:
                    status = (await http.get(f"{url}/status.json")).json()
                assert len(status["clients"]) == 2
                assert {c["name"] for c in status["clients"]} == {"tester 0", "tester 1"}
                # Whatever plan each uplink holds is what its schedule follows.
                assert await until(lambda: all(a.uplink.plan for a in apps))
                await asyncio.sleep(0.5)
                for app in apps:
                    fetch = app.uplink.plan.get("fetch", {})
                    assert app.schedule.enabled(CHAT) == fetch.get(CHAT, True)
                assert any(line.startswith("connected to ws://") for line in apps[0].console.lines)
                assert any(line.startswith("in session: RACE1") for line in apps[0].console.lines)
                # Replay playback: from now on client 0 sends no session and no cars.
                await sim.set_state(0, "replay")
                cid = apps[0].identity.client_id
                assert await until(lambda: "cars" not in feed.states.get(cid, {"cars": 1}))
                await asyncio.sleep(1.5)
                mine = [s for c, s in feed.seen if c == cid]
                replayed = [s for s in mine if s.get("game", {}).get("replay")]
                assert replayed, "the replaying client kept the server informed"
                for state in replayed:
                    assert "session" not in state and "cars" not in state
                assert "cars" not in mine[-1]
                assert "replay playback: not streaming" in apps[0].console.lines
            finally:
                for app in apps:
                    app.stop()
                codes = await asyncio.gather(*tasks)
            assert codes == [0, 0]
            assert all(a.uplink.status.state == "closed" for a in apps)

    run(scenario(), timeout=40)


def test_a_key_the_server_does_not_allow_stops_the_client(tmp_path):
    need_server()

    async def scenario():
        async with (
            Simulator(race_weekend(), viewpoints=1, speed=10.0, start_et=600.0) as sim,
            tracker_server(tmp_path, allow_list=("0" * 32,)) as (url, _feed),
        ):
            lines: list[str] = []
            from client.console import Console

            config = client_config(tmp_path, url, sim)
            app = ClientApp(config, console=Console(lines.append, key_file=str(config.key_file)))
            code = await asyncio.wait_for(app.run(handle_signals=False), 15)
            assert code == 3
            fatal = [line for line in lines if "does not accept this client's key" in line]
            assert fatal, lines
            assert app.identity.client_id in fatal[0] or app.identity.client_id in str(lines)

    run(scenario())


def test_sigint_stops_python_m_client_cleanly(tmp_path):
    need_server()
    rest, ws, control = free_port(), free_port(), free_port()
    sim = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", "--synthetic", "--cars", "8", "--speed", "10",
         "--start-et", "600", "--port", str(rest), "--ws-port", str(ws),
         "--control-port", str(control)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = None
    try:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        client = subprocess.Popen(
            [sys.executable, "-m", "client", "--config", str(tmp_path / "c.toml"),
             "--server", "127.0.0.1:9", "--game", f"http://127.0.0.1:{rest}",
             "--game-ws", f"ws://127.0.0.1:{ws}/websocket/ui", "--max-time-scale", "10"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        lines: list[str] = []
        end = time.monotonic() + 20
        while time.monotonic() < end:  # read until the client saw the session
            line = client.stdout.readline()
            lines.append(line)
            if "in session:" in line:
                break
        assert any("in session:" in line for line in lines), lines
        client.send_signal(signal.SIGINT)
        out, err = client.communicate(timeout=15)
        assert client.returncode == 0, err
        assert "server unreachable" in "".join(lines) + out
        assert (tmp_path / "c.toml").exists() and (tmp_path / "lmust-client.key").exists()
    finally:
        for proc in (client, sim):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(5)
