"""Faults of who a client is: its clock is 10 minutes off; two clients share one key.

Real `lmust-client` processes (sim at 20x, in-process server and SQLite).
"""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest
from core_harness import CoreServer, read_db, run, until, until_et
from fault_harness import ClientProcess, assert_one_continuous_session

from client.uplink import REPLACED_CLOSE
from server.ingest import REPLACED
from sim.script import Weekend
from sim.server import Simulator
from sim.synthetic import generate_session

SPEED = 20.0
TRACK = "Algarve International Circuit"  # laps of 83 s and more: seconds apart at 20-30x
SKEW = 600.0  # 10 minutes


@pytest.mark.timeout(180)
def test_client_clocks_ten_minutes_off_change_nothing(tmp_path):
    """Two team members' PCs, one 10 minutes fast and one 10 minutes slow, feed one race.

    Wall-clock time crosses the wire only as the `sent_at` of snapshots and patches; the
    server keeps it in `Observation.sent_at` and decides nothing with it: everything it
    decides and stores in wall time (session created/fed, clients joined/left/heard, stream
    seqs) is its own clock's, everything about the race is the game's event time. So: one
    session, every lap once, and every stored wall time within the server's own run. (The
    client itself uses its wall clock only for its outbox's ages, differences of its own
    clock, which an offset does not change; a clock *stepping* during an outage is not
    covered here.)"""
    script = generate_session(seed=71, cars=10, duration=1800, track=TRACK)
    started = time.time()

    async def scenario():
        async with (
            Simulator(Weekend([script]), viewpoints=2, speed=SPEED, start_et=120.0) as sim,
            CoreServer(tmp_path, SPEED) as server,
        ):
            feed = server.feed
            skews: dict[str, list[float]] = {}
            observe = feed.observe

            async def noting_skew(obs):  # the real feed, noting the client's `sent_at` first
                skews.setdefault(obs.client.name, []).append(obs.sent_at - obs.received_at)
                return await observe(obs)

            feed.observe = noting_skew
            members = [
                ClientProcess(tmp_path, server.url, sim.viewpoints[i], SPEED, tag=tag,
                              clock_offset=offset).start()
                for i, (tag, offset) in enumerate((("fast", SKEW), ("slow", -SKEW)))
            ]  # fmt: skip
            try:
                await until(lambda: any(s.tracker.cars for s in feed.sessions.values()), 60,
                            "a tracked session with cars")  # fmt: skip
                (sid,) = list(feed.sessions)
                await until(lambda: len(feed.arbiter.session(sid).clients) == 2, 60,
                            "both clients in the session")  # fmt: skip
                await until_et(sim, 0, 480.0)
                status = await server.status()
            finally:
                codes = list(await asyncio.gather(*(member.stop() for member in members)))
            return status, codes, members, skews

    status, codes, members, skews = run(scenario(), timeout=170)
    ended = time.time()
    assert codes == [0, 0], [m.output()[-2000:] for m in members]
    # The skew crossed the wire: the clients' `sent_at` is 10 minutes off the server's clock.
    for name, offset in (("member fast", SKEW), ("member slow", -SKEW)):
        assert statistics.median(skews[name]) == pytest.approx(offset, abs=5), name
    found = assert_one_continuous_session(tmp_path / "server" / "lmust.db", script)
    assert found.last_et > 430
    # Every wall time the server stored or showed is its own.
    conn = read_db(tmp_path / "server" / "lmust.db")
    stored = {
        "sessions": conn.execute("SELECT created_at, last_fed_at FROM sessions").fetchall(),
        "session_clients": conn.execute("SELECT at, at FROM session_clients").fetchall(),
        "clients": conn.execute("SELECT first_seen, last_seen FROM clients").fetchall(),
        "streams": conn.execute("SELECT updated_at, updated_at FROM streams").fetchall(),
    }
    conn.close()
    assert len(stored["clients"]) == 2 and len(stored["streams"]) == 2
    shown = [
        (c["connected_at"], c["last_message_at"]) for c in status["clients"]
    ]  # the status page's clients, both connected then
    assert len(shown) == 2
    for table, rows in {**stored, "status.json": shown}.items():
        for row in rows:
            for value in row:
                assert started - 1 <= value <= ended + 1, (table, value - started)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_two_clients_sharing_one_key_the_newer_takes_over_and_the_older_stops(tmp_path):
    """A member copied their client folder (key included) to a second PC, both run.

    The server knows a client by its key, so it cannot keep both: the newer connection
    replaces the older (close code 4000, "replaced by a newer connection"). The older client
    must not fight back (reconnecting would replace the newer one, and so on forever): it
    stops with one clear line saying why and what to do, exit code 3 (refused). The session
    goes on from the newer one without a gap."""
    script = generate_session(seed=73, cars=10, duration=1800, track=TRACK)
    key = tmp_path / "shared.key"

    async def scenario():
        async with (
            Simulator(Weekend([script]), viewpoints=2, speed=SPEED, start_et=120.0) as sim,
            CoreServer(tmp_path, SPEED) as server,
        ):
            feed = server.feed
            first = ClientProcess(tmp_path, server.url, sim.viewpoints[0], SPEED, tag="pc1",
                                  key_file=key)  # fmt: skip
            second = ClientProcess(tmp_path, server.url, sim.viewpoints[1], SPEED, tag="pc2",
                                   key_file=key)  # fmt: skip
            try:
                first.start()
                await until(lambda: any(s.tracker.cars for s in feed.sessions.values()), 60,
                            "a tracked session with cars")  # fmt: skip
                await until_et(sim, 0, 300.0)
                (sid,) = list(feed.sessions)
                second.start()
                await until(lambda: not first.running, 60, "the older client to stop")
                stopped_at = feed.sessions[sid].tracker.last_et
                await until_et(sim, 0, stopped_at + 200.0)
                still = second.running
                links = len(server.feed.arbiter.session(sid).clients)
            finally:
                codes = [await first.stop(), await second.stop()]
            return codes, still, links, first.output()

    codes, still, links, said = run(scenario(), timeout=170)
    assert still, "the newer client kept running"
    assert links == 1
    assert codes == [3, 0], (codes, said[-2000:])
    assert "another client with the same key" in said, said[-2000:]
    assert str(key) in said, "the line names the key file to replace"
    found = assert_one_continuous_session(tmp_path / "server" / "lmust.db", script)
    conn = read_db(tmp_path / "server" / "lmust.db")
    (clients,) = conn.execute("SELECT count(*) FROM clients").fetchone()
    conn.close()
    assert clients == 1
    assert found.last_et > 450


def test_the_client_knows_the_servers_replaced_close_code():
    """The client stops on the close code the server's ingest uses for a replaced connection."""
    assert REPLACED_CLOSE == REPLACED
