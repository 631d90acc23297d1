"""The store on a real SQLite file: group commits, one bad write fails alone, and a session
played through tracker + store reloads into a tracker that equals the live one."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tracking"))

from sim_observations import Observer, ets

from server.store import Store, session_insert
from server.tracking import Tracker
from sim.synthetic import generate_session

RECORD = {
    "session_id": "s1",
    "event_id": "s1",
    "online": True,
    "server": "srv",
    "port": 1,
    "track": "Track",
    "session_type": "RACE1",
    "phase": 5,
}


LINE = "INSERT INTO feed (session_id, et, kind, text) VALUES (?, ?, 'x', 'line')"


def test_concurrent_writes_share_commits_and_a_bad_one_fails_alone(tmp_path):
    async def scenario():
        async with Store(tmp_path / "db.sqlite") as store:
            await store.write(session_insert(RECORD, 1000.0, 1.0))
            before = store.stats.commits
            await asyncio.gather(*(store.submit([(LINE, ("s1", float(i)))]) for i in range(50)))
            grouped = store.stats.commits - before
            good = [store.submit([(LINE, ("s1", float(i)))]) for i in range(5)]
            bad = store.submit([(LINE, ("no such session", 1.0))])
            await asyncio.gather(*good)
            with pytest.raises(Exception, match="FOREIGN KEY"):
                await bad
            rows = await store.query("SELECT count(*) FROM feed")
            return rows[0][0], grouped

    count, grouped = asyncio.run(scenario())
    assert grouped <= 2  # queued together: one transaction (two if the writer was quick)
    assert count == 55  # the good writes of the failed batch were committed on their own


def test_a_session_reloads_into_the_same_tracker(tmp_path):
    script = generate_session(seed=8, cars=8, duration=900)
    observer = Observer(script)

    async def scenario():
        tracker = Tracker(script.session, script.track.length)
        async with Store(tmp_path / "db.sqlite") as store:
            await store.write(session_insert(RECORD, script.track.length, 1.0))
            for et in ets(30.0, script.final_et(), 5.0):
                await store.append("s1", tracker.observe(observer.state(et), et), tracker)
        async with Store(tmp_path / "db.sqlite") as store:
            (stored,) = await store.live_sessions()
            laps = await store.query("SELECT car, lap, lap_time FROM laps WHERE session_id='s1'")
            cars = await store.query("SELECT count(*) FROM cars")
            seq = store.next_seq("s1", 1)
        return tracker, stored, laps, cars[0][0], seq

    live, stored, laps, cars, seq = asyncio.run(scenario())
    restored = Tracker.restore(stored.session_type, stored.track_length, stored.events)
    assert seq == stored.last_seq + 1 == len(stored.events) + 1
    assert restored.classification() == live.classification()
    assert cars == len(live.cars) == 8
    want = {(k, lap.lap, lap.lap_time) for k in live.cars for lap in live.car_laps(k)}
    assert {tuple(r) for r in laps} == want
    assert sum(len(car.laps) for car in script.cars) == len(want)
    assert [s.as_dict() for s in restored.pit_stops()] == [s.as_dict() for s in live.pit_stops()]
