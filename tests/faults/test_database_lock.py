"""Another process holds the database's write lock in the middle of a race: 3 s, then 8 s.

A backup tool, an admin's `sqlite3` shell or a second server started by mistake can take
SQLite's write lock. The server's writers (the store's batch writer and the ingest's stream
seqs, two connections with `busy_timeout` 5 s: `server/db.py`) must wait for it, lose nothing,
and ack nothing they have not committed: while the lock is held, the client's acked seq stands
still and its outbox grows; afterwards everything is committed and acked, and the stored
session is the script's. The first lock is shorter than the busy timeout (SQLite itself waits),
the second longer (the server must keep waiting on its own: before it did, the store failed
the write whose events the tracker had already taken, and the ingest's connection crashed).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time

import pytest
from core_harness import CoreServer, TeamClient, run, until, until_et
from fault_harness import assert_one_continuous_session, hold_exclusive_lock

from server import db
from sim.script import Weekend
from sim.server import Simulator
from sim.synthetic import generate_session

SPEED = 20.0
TRACK = "Algarve International Circuit"  # laps of 83 s and more: seconds apart at 20-30x
LOCKS = (3.0, 8.0)  # seconds: within, then beyond, the busy timeout


async def _sample_acks(uplink, until_released: asyncio.Task) -> list[tuple[float, int, int]]:
    """(monotonic time, acked seq, unacked messages) every 0.1 s until the lock is released."""
    samples = []
    while not until_released.done():
        status = uplink.status
        samples.append((time.monotonic(), status.acked, status.pending))
        await asyncio.sleep(0.1)
    return samples


@pytest.mark.timeout(180)
def test_database_locked_by_another_process_loses_nothing_and_acks_only_commits(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    script = generate_session(seed=61, cars=10, duration=1800, track=TRACK)

    async def scenario():
        async with (
            Simulator(Weekend([script]), viewpoints=2, speed=SPEED, start_et=120.0) as sim,
            CoreServer(tmp_path, SPEED) as server,
        ):
            members = [TeamClient(tmp_path, server.url, sim, i, SPEED).start() for i in (0, 1)]
            try:
                feed = server.feed
                await until(lambda: any(s.tracker.cars for s in feed.sessions.values()), 30,
                            "a tracked session with cars")  # fmt: skip
                await until_et(sim, 0, 300.0)
                (sid,) = list(feed.sessions)
                uplink = members[0].app.uplink
                locks = []
                for seconds in LOCKS:
                    locker = asyncio.create_task(hold_exclusive_lock(server.database, seconds))
                    samples = await _sample_acks(uplink, locker)
                    locks.append((locker.result(), samples))
                    locked_et = feed.sessions[sid].tracker.last_et

                    def moved_on(since: float = locked_et) -> bool:
                        return feed.sessions[sid].tracker.last_et > since + 60

                    await until(moved_on, 30, "the session to move on after the lock")
                    await until(lambda: uplink.status.pending <= 2, 30, "the backlog acked")
                await until_et(sim, 0, sim.clock.position().et + 60.0)
                failures = feed.store.stats.failures
            finally:
                for member in members:
                    await member.stop()
            return locks, failures

    locks, failures = run(scenario(), timeout=170)
    for window, samples in locks:
        # While the other process held the lock (with a second for a commit in flight when it
        # was taken), no ack arrived, though the client kept publishing.
        held = [s for s in samples if window.locked_at + 1.0 <= s[0] <= window.released_at - 0.2]
        assert len(held) >= 5, f"too few samples while locked: {len(held)}"
        assert len({acked for _, acked, _ in held}) == 1, f"acks while locked: {held}"
        assert held[-1][2] > held[0][2], "the client's outbox grew while the server waited"
    assert failures == 0, "a store write failed"
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors
    waited = [r.getMessage() for r in caplog.records if "locked by another" in r.getMessage()]
    assert waited, "the 8 s lock outlasted SQLite's own wait: the server says it waits"
    found = assert_one_continuous_session(tmp_path / "server" / "lmust.db", script)
    assert found.last_et > 400


def test_while_locked_waits_for_the_lock_and_raises_anything_else(tmp_path, caplog):
    """`db.while_locked` (the store's and the ingest's writes) outlasts SQLite's own busy wait
    (cut to 0.1 s here) and gives up at once on an error that waiting cannot cure."""
    caplog.set_level(logging.WARNING)
    path = tmp_path / "locked.db"

    async def scenario() -> float:
        conn = await db.open_db(path)
        await conn.execute("PRAGMA busy_timeout=100")
        await conn.execute("CREATE TABLE t (a)")
        await conn.commit()
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        asyncio.get_running_loop().call_later(0.8, other.execute, "COMMIT")

        async def write() -> None:
            await conn.execute("INSERT INTO t VALUES (1)")
            await conn.commit()

        started = time.monotonic()
        await db.while_locked(conn, write, "test")
        waited = time.monotonic() - started
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            await db.while_locked(conn, lambda: conn.execute("INSERT INTO nope VALUES (1)"), "t")
        rows = await conn.execute_fetchall("SELECT a FROM t")
        await conn.close()
        other.close()
        assert [tuple(r) for r in rows] == [(1,)]
        return waited

    waited = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert waited >= 0.7
    said = [r.getMessage() for r in caplog.records]
    assert any("locked by another" in m for m in said), said
    assert any("writable again" in m for m in said), said
