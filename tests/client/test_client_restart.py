"""A client killed mid-race (no goodbye) and started again resumes streaming as the same client.

Real processes: the simulated game in-process, `lmust-server` and `lmust-client` as subprocesses.
The client is killed with SIGKILL (a crash, a closed console), so the server only learns it from
the dropped connection; the restarted client loads the same key, authenticates as the same
client id and streams the race again from a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time

import httpx
import pytest
from netutil import free_port

from sim.script import Weekend
from sim.server import Simulator
from sim.synthetic import generate_session


async def wait_for(status_url: str, check, timeout: float, what: str) -> dict:
    deadline = time.monotonic() + timeout
    last: object = None
    async with httpx.AsyncClient(timeout=2.0) as http:
        while time.monotonic() < deadline:
            try:
                last = (await http.get(status_url)).json()
            except httpx.HTTPError as exc:
                last = repr(exc)
            else:
                found = check(last)
                if found:
                    return found
            await asyncio.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}; last status: {last}")


def streaming(min_messages: int, min_et: float):
    def check(status: dict):
        for client in status.get("clients", []):
            if client.get("messages", 0) >= min_messages and (client.get("last_et") or -1) > min_et:
                return client
        return None

    return check


@pytest.mark.slow
def test_killed_client_restarts_as_the_same_client_and_streams_again(tmp_path):
    script = generate_session(seed=11, cars=10, duration=1800)
    port = free_port()
    status_url = f"http://127.0.0.1:{port}/status.json"
    server = subprocess.Popen(
        [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(tmp_path / "server")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    config = tmp_path / "client" / "lmust-client.toml"

    def start_client(rest_url: str, ws_url: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "client", "--server", f"http://127.0.0.1:{port}",
             "--game", rest_url, "--game-ws", ws_url, "--config", str(config),
             "--name", "Restarted", "--tick", "0.2", "--max-time-scale", "20"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    async def scenario() -> tuple[dict, dict]:
        async with Simulator(Weekend([script]), viewpoints=1, speed=10.0, start_et=300.0) as sim:
            game = sim.viewpoints[0]
            first = start_client(game.rest_url, game.ws_url)
            try:
                before = await wait_for(status_url, streaming(5, 300), 30, "the first run")
            finally:
                first.send_signal(signal.SIGKILL)
                first.wait(timeout=10)
            et_at_kill = sim.clock.position().et
            await wait_for(
                status_url,
                lambda s: {"gone": True} if not s.get("clients") else None,
                30,
                "the server to notice the dropped connection",
            )
            second = start_client(game.rest_url, game.ws_url)
            try:
                after = await wait_for(
                    status_url, streaming(5, et_at_kill), 30, "the restarted client to stream"
                )
            finally:
                second.send_signal(signal.SIGINT)
                second.wait(timeout=15)
            return before, after

    try:
        before, after = asyncio.run(scenario())
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=15)
    assert after["client_id"] == before["client_id"], "the key beside the config is reused"
    assert after["last_et"] > before["last_et"]
    assert after["connected_at"] > before["connected_at"]
