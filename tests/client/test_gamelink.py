"""The REST link to the game (client.gamelink): GETs and their failures."""

from __future__ import annotations

import asyncio
import socket

import pytest
from netutil import free_port, run_bounded

from client.gamelink import GameHttp, Refused
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
