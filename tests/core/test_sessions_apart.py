"""Sessions are told apart and linked: a weekend is three sessions of one event; two races at
once on two game servers stay two sessions, each with its own cars and laps."""

from __future__ import annotations

import pytest
from core_harness import (
    CoreServer,
    TeamClient,
    assert_events_in_order,
    car_key,
    read_db,
    run,
    scripted_laps,
    stored_laps,
    until,
)

from sim.script import Weekend
from sim.server import Simulator
from sim.synthetic import generate_session, generate_weekend

SPEED = 60.0


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_a_weekend_is_three_sessions_of_one_event(tmp_path):
    weekend = generate_weekend(
        seed=4, cars=8, race_duration=600, practice_duration=300, qualifying_duration=300
    )
    weekend.transition_seconds = 1.5  # wall seconds of loading between sessions

    async def scenario():
        async with (
            Simulator(weekend, viewpoints=2, speed=SPEED, start_et=60.0) as sim,
            CoreServer(tmp_path, SPEED) as server,
        ):
            members = [TeamClient(tmp_path, server.url, sim, i, SPEED).start() for i in range(2)]
            try:
                types = lambda: {s["session_type"] for s in server.feed.status()}  # noqa: E731
                await until(lambda: "RACE1" in types(), 40, "the race session")
                await until(lambda: sim.clock.position().et > 300.0, 30, "some race laps")
            finally:
                for member in members:
                    await member.stop()

    run(scenario(), timeout=200)
    conn = read_db(tmp_path / "server" / "lmust.db")
    rows = conn.execute(
        "SELECT session_id, event_id, session_type, closed_reason FROM sessions ORDER BY created_at"
    ).fetchall()
    assert [r["session_type"] for r in rows] == ["PRACTICE1", "QUALIFY1", "RACE1"]
    assert len({r["event_id"] for r in rows}) == 1
    assert rows[0]["event_id"] == rows[0]["session_id"]  # the first session names the event
    for row, script in zip(rows, weekend.sessions, strict=True):
        assert_events_in_order(conn, row["session_id"])
        cars = {r[0] for r in conn.execute(
            "SELECT car FROM cars WHERE session_id = ?", (row["session_id"],))}  # fmt: skip
        assert cars == {car_key(c) for c in script.cars}
    assert rows[0]["closed_reason"] is not None and rows[1]["closed_reason"] is not None
    # Laps of practice and qualifying that ended while the session was followed are all there.
    qualifying = stored_laps(conn, rows[1]["session_id"])
    want = scripted_laps(weekend.sessions[1], weekend.sessions[1].final_et() - 5.0)
    assert set(want) <= set(qualifying)


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_two_races_at_once_on_two_servers_stay_apart(tmp_path):
    first = generate_session(seed=29, cars=10, duration=1200)
    second = generate_session(seed=26, cars=12, duration=1200)
    # the same game server name on another port: the port must tell them apart
    second.server_name, second.server_port = first.server_name, first.server_port + 1

    async def scenario():
        async with (
            Simulator(Weekend([first]), viewpoints=2, speed=SPEED, start_et=100.0) as sim_a,
            Simulator(Weekend([second]), viewpoints=2, speed=SPEED, start_et=100.0) as sim_b,
            CoreServer(tmp_path, SPEED) as server,
        ):
            members = [
                TeamClient(tmp_path, server.url, sim, i, SPEED, tag=tag).start()
                for sim, i, tag in ((sim_a, 0, "a0"), (sim_a, 1, "a1"), (sim_b, 0, "b0"),
                                    (sim_b, 1, "b1"))
            ]  # fmt: skip
            try:
                await until(lambda: len(server.feed.sessions) == 2, 20, "two sessions")
                await until(lambda: sim_a.clock.position().et > 700.0, 30, "laps")
                status = await server.status()
                ends = {s.session_id: s.tracker.last_et for s in server.feed.sessions.values()}
            finally:
                for member in members:
                    await member.stop()
            return status, ends

    status, ends = run(scenario(), timeout=200)
    assert len(status["sessions"]) == 2
    assert all(len(s["clients"]) == 2 for s in status["sessions"]), status["sessions"]
    conn = read_db(tmp_path / "server" / "lmust.db")
    by_track = {
        r["track"]: r["session_id"] for r in conn.execute("SELECT track, session_id FROM sessions")
    }
    assert set(by_track) == {first.track.name, second.track.name}
    for script in (first, second):
        sid = by_track[script.track.name]
        assert_events_in_order(conn, sid)
        cars = {r[0] for r in conn.execute("SELECT car FROM cars WHERE session_id = ?", (sid,))}
        assert cars == {car_key(c) for c in script.cars}
        got = stored_laps(conn, sid)
        want = scripted_laps(script, ends[sid])
        assert set(got) <= set(scripted_laps(script, 1e9)), "laps of the other race"
        seen = {k for k, lap in want.items() if lap.end_et > 110.0}
        assert seen <= set(got)
