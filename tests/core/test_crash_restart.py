"""The server killed with SIGKILL mid-race and started again loses nothing that was acked.

Two identical races run side by side, each with two team clients: one against a server that is
never interrupted (the reference), one against `python -m server`, killed with SIGKILL at
race ET ~700 and restarted on the same port and database. After the flag, both databases hold
one session with the same laps, pit stops and classification (and the laps are the script's).
"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from core_harness import (
    CoreServer,
    ServerProcess,
    TeamClient,
    assert_events_in_order,
    read_db,
    run,
    scripted_laps,
    stored_laps,
    until,
    until_et,
)

from server.store_rows import event_doc
from server.tracking import Tracker
from sim.script import Weekend
from sim.server import Simulator
from sim.synthetic import generate_session

SPEED = 60.0


def stored_session(path) -> dict:
    conn = read_db(path)
    (row,) = conn.execute("SELECT session_id, session_type, track_length FROM sessions")
    sid = row["session_id"]
    assert_events_in_order(conn, sid)
    events = [
        event_doc(r["et"], r["kind"], r["payload"])
        for r in conn.execute(
            "SELECT et, kind, payload FROM events WHERE session_id = ? ORDER BY seq", (sid,)
        )
    ]
    tracker = Tracker.restore(row["session_type"], row["track_length"], events)
    laps = stored_laps(conn, sid)
    stops = conn.execute(
        "SELECT car, stop, lap, garage FROM pit_stops WHERE session_id = ? ORDER BY car, stop",
        (sid,),
    ).fetchall()
    return {
        "laps": {k: (r["lap_time"], r["driver"], r["s1"], r["s2"]) for k, r in laps.items()},
        "stops": [tuple(r) for r in stops],
        "classification": tracker.classification(),
        "tracker_laps": {k: len(c.laps) for k, c in tracker.cars.items()},
        "clients": [
            tuple(r)
            for r in conn.execute("SELECT change, count(*) FROM session_clients GROUP BY change")
        ],
    }


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sigkill_mid_race_then_restart_stores_the_same_session(tmp_path):
    script = generate_session(seed=29, cars=10, duration=1500)
    (tmp_path / "crash").mkdir()
    (tmp_path / "reference").mkdir()

    async def scenario():
        crashing = ServerProcess(tmp_path / "crash", SPEED)
        await crashing.start()
        try:
            async with (
                Simulator(Weekend([script]), viewpoints=2, speed=SPEED, start_et=100.0) as sim_a,
                Simulator(Weekend([script]), viewpoints=2, speed=SPEED, start_et=100.0) as sim_b,
                CoreServer(tmp_path / "reference", SPEED) as reference,
            ):
                members = [
                    TeamClient(tmp_path, crashing.url, sim_a, 0, SPEED, tag="c0").start(),
                    TeamClient(tmp_path, crashing.url, sim_a, 1, SPEED, tag="c1").start(),
                    TeamClient(tmp_path, reference.url, sim_b, 0, SPEED, tag="r0").start(),
                    TeamClient(tmp_path, reference.url, sim_b, 1, SPEED, tag="r1").start(),
                ]
                try:
                    await until_et(sim_a, 0, 700.0)
                    crashing.kill()
                    await asyncio.sleep(1.0)
                    await crashing.start()
                    over = lambda: sim_a.clock.position().over and sim_b.clock.position().over  # noqa: E731
                    await until(over, 60, "the end of both races")
                    await asyncio.sleep(1.5)  # the last observations reach both servers
                finally:
                    for member in members:
                        await member.stop()
        finally:
            crashing.terminate()

    run(scenario(), timeout=240)  # ~30 s on an idle machine; generous for a loaded CI
    log = (tmp_path / "crash" / "server.log").read_text()
    assert "continuing session" in log, log[-3000:]
    crashed = stored_session(tmp_path / "crash" / "server" / "lmust.db")
    clean = stored_session(tmp_path / "reference" / "server" / "lmust.db")
    assert crashed["laps"] == clean["laps"]
    assert crashed["stops"] == clean["stops"]
    assert crashed["classification"] == clean["classification"]
    assert crashed["tracker_laps"] == clean["tracker_laps"]
    # ... and both are the script's race.
    want = scripted_laps(script, 1e9)
    assert set(crashed["laps"]) == set(want)
    for key, lap in want.items():
        assert crashed["laps"][key][0] == pytest.approx(
            lap.lap_time if lap.lap_time > 0 else -1, abs=2e-3
        )
    assert len(crashed["stops"]) >= sum(len(car.pits) for car in script.cars)


def test_stored_session_reads_one_session(tmp_path):
    """The helper refuses a database with more than one session (a forked session)."""
    path = tmp_path / "two.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE sessions (session_id, session_type, track_length)")
    conn.executemany("INSERT INTO sessions VALUES (?, 'RACE1', 1.0)", [("a",), ("b",)])
    conn.commit()
    with pytest.raises(ValueError):
        stored_session(path)
