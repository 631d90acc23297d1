"""Faults on the game's side: the game closes mid-session and comes back; the client is killed.

In both the session had a single client, so while it was gone nobody fed the session: the laps
of the hole can only come from the game's lap history, which the server asks the returning
client for. Sim (30x) -> real client -> real server -> SQLite; the stored session is compared
with the simulator's script.
"""

from __future__ import annotations

import pytest
from core_harness import CoreServer, TeamClient, run, until, until_et
from fault_harness import ClientProcess, assert_one_continuous_session

from sim.script import Weekend
from sim.server import Simulator
from sim.synthetic import generate_session

SPEED = 30.0
TRACK = "Algarve International Circuit"  # laps of 83 s and more: seconds apart at 20-30x


@pytest.mark.timeout(180)
def test_game_closed_mid_session_and_back_is_one_session_without_a_lost_lap(tmp_path):
    """The game quits (both its ports refuse connections) for 3 race minutes, then the same
    race is back: the client stays connected, tells the server the game is not running, then
    streams again; the server backfills the 3 minutes from the game's lap history."""
    script = generate_session(seed=41, cars=10, duration=1800, track=TRACK)

    async def scenario():
        async with (
            Simulator(Weekend([script]), viewpoints=1, speed=SPEED, start_et=120.0) as sim,
            CoreServer(tmp_path, SPEED) as server,
        ):
            member = TeamClient(tmp_path, server.url, sim, 0, SPEED).start()
            try:
                feed = server.feed
                await until(lambda: any(s.tracker.cars for s in feed.sessions.values()), 30,
                            "a tracked session with cars")  # fmt: skip
                await until_et(sim, 0, 400.0)
                (sid,) = list(feed.sessions)
                closed_from = feed.sessions[sid].tracker.last_et
                await sim.set_state(0, "closed")
                await until(lambda: not feed.arbiter.session(sid).clients, 30,
                            "the server to see the client's game gone")  # fmt: skip
                await until_et(sim, 0, closed_from + 180.0)
                await sim.set_state(0, "session")
                await until(lambda: member.backfills > 0, 30, "the lap history request")
                await until_et(sim, 0, closed_from + 420.0)
            finally:
                await member.stop()
            return closed_from

    closed_from = run(scenario(), timeout=170)
    found = assert_one_continuous_session(tmp_path / "server" / "lmust.db", script)
    assert found.last_et > closed_from + 300
    # The laps of the hole came from the game's history (nobody was there to see them).
    hole = found.sources(closed_from + 30, closed_from + 150)
    assert hole and "history" in hole, hole


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_client_killed_and_restarted_is_one_session_without_a_lost_lap(tmp_path):
    """`lmust-client` (a real process, the session's only client) is killed with SIGKILL: its
    unacked outbox dies with it. Restarted after 2 race minutes it is the same client (same key)
    with a new stream; the server backfills the hole from the game's lap history."""
    script = generate_session(seed=43, cars=10, duration=1800, track=TRACK)

    async def scenario():
        async with (
            Simulator(Weekend([script]), viewpoints=1, speed=SPEED, start_et=120.0) as sim,
            CoreServer(tmp_path, SPEED) as server,
        ):
            feed = server.feed
            client = ClientProcess(tmp_path, server.url, sim.viewpoints[0], SPEED, tag="a")
            try:
                client.start()
                await until(lambda: any(s.tracker.cars for s in feed.sessions.values()), 60,
                            "a tracked session with cars")  # fmt: skip
                await until_et(sim, 0, 400.0)
                (sid,) = list(feed.sessions)
                first_id = feed.arbiter.driving_client(sid)
                client.kill()
                killed_at = feed.sessions[sid].tracker.last_et
                await until(lambda: not feed.arbiter.session(sid).clients, 30,
                            "the server to notice the dropped connection")  # fmt: skip
                await until_et(sim, 0, killed_at + 120.0)
                client.start()
                await until(lambda: feed.sessions[sid].tracker.last_et > killed_at + 150, 60,
                            "the restarted client to feed the session")  # fmt: skip
                await until_et(sim, 0, killed_at + 400.0)
                again_id = feed.arbiter.driving_client(sid)
            finally:
                code = await client.stop()
            return killed_at, first_id, again_id, code

    killed_at, first_id, again_id, code = run(scenario(), timeout=170)
    assert again_id == first_id, "the restarted client is the same client (its key file)"
    assert code == 0, code
    found = assert_one_continuous_session(tmp_path / "server" / "lmust.db", script)
    assert found.last_et > killed_at + 300
    hole = found.sources(killed_at + 20, killed_at + 100)
    assert hole and "history" in hole, hole
