"""The packaged client: build the one-file executable and run it against the game and a server.

What a team member gets is `build/dist/lmust-client` (`lmust-client.exe` on Windows), built by
`build/build-client.sh` from `build/lmust-client.spec`. This test builds it for real with
PyInstaller (about 30 s), starts the simulated game in-process and a real `lmust-server` process
on free ports, runs the built binary in an empty folder and checks that it writes its config and
key, connects, authenticates and streams the race (the server's status shows its cars).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from netutil import free_port

from sim.script import Weekend
from sim.server import Simulator
from sim.synthetic import generate_session

REPO = Path(__file__).resolve().parents[2]
EXE = REPO / "build" / "dist" / ("lmust-client.exe" if os.name == "nt" else "lmust-client")


@pytest.fixture(scope="module")
def frozen_client() -> Path:
    started = time.monotonic()
    build = subprocess.run(
        ["bash", str(REPO / "build" / "build-client.sh")],
        cwd=REPO,
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-4000:]
    assert EXE.is_file(), f"the build wrote no {EXE}"
    print(
        f"built {EXE.name}: {EXE.stat().st_size / 1e6:.1f} MB in {time.monotonic() - started:.0f} s"
    )
    return EXE


async def wait_for_client(status_url: str, timeout: float) -> dict:
    """The server's view of the first client that streams cars, or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    last: object = None
    async with httpx.AsyncClient(timeout=2.0) as http:
        while time.monotonic() < deadline:
            try:
                last = (await http.get(status_url)).json()
            except httpx.HTTPError as exc:
                last = repr(exc)
            else:
                for client in last.get("clients", []):
                    # streaming a race: several messages stamped with the race's event time
                    if client.get("messages", 0) >= 3 and (client.get("last_et") or -1) > 300:
                        return client
            await asyncio.sleep(0.5)
    raise AssertionError(f"no client streamed within {timeout} s; last status: {last}")


@pytest.mark.slow
def test_built_executable_connects_authenticates_and_streams(frozen_client, tmp_path):
    script = generate_session(seed=5, cars=12, duration=1800)
    server_port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", str(server_port),
         "--data-dir", str(tmp_path / "server")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    work = tmp_path / "client"
    work.mkdir()
    exe = work / frozen_client.name  # a fresh copy: its config and key are written beside it
    shutil.copy2(frozen_client, exe)

    async def scenario() -> dict:
        async with Simulator(Weekend([script]), viewpoints=1, start_et=300.0) as sim:
            game = sim.viewpoints[0]
            client = subprocess.Popen(
                [str(exe), "--server", f"http://127.0.0.1:{server_port}",
                 "--game", game.rest_url, "--game-ws", game.ws_url, "--name", "Frozen <b>Kim</b>"],
                cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
            try:
                seen = await wait_for_client(f"http://127.0.0.1:{server_port}/status.json", 60)
            finally:
                client.send_signal(signal.SIGINT)
                try:
                    out, _ = client.communicate(timeout=15)
                except subprocess.TimeoutExpired:
                    client.kill()
                    out, _ = client.communicate()
            assert client.returncode == 0, out
            return {"client": seen, "console": out}

    try:
        result = asyncio.run(scenario())
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=15)
    seen, console = result["client"], result["console"]
    assert seen["name"] == "Frozen <b>Kim</b>"
    assert seen["game"], seen
    assert (work / "lmust-client.toml").is_file(), "first run writes its config beside the exe"
    assert any(p.suffix == ".key" for p in work.iterdir()), "first run creates its key"
    assert "connected" in console.lower(), console
