"""Three team members' clients in one race, coming and going: one session, every lap once.

Timeline (race ET, the simulator at 60x real time): members 0 and 1 stream from 4 minutes on;
the driving client quits at minute 10; member 2 joins at minute 20; at minute 25 everyone
leaves the race (back to the menus) for 5 minutes; member 1 comes back at minute 30 and is asked
for the lap history, which fills the hole. The stored session is compared with the script.
"""

from __future__ import annotations

import pytest
from core_harness import (
    CoreServer,
    TeamClient,
    assert_events_in_order,
    read_db,
    run,
    scripted_laps,
    stored_laps,
    until,
    until_et,
)

from sim.script import Weekend
from sim.server import Simulator
from sim.synthetic import generate_session

SPEED = 60.0


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_three_clients_coming_and_going_make_one_gap_free_session(tmp_path):
    script = generate_session(seed=29, cars=12, duration=2400)

    async def scenario():
        async with (
            Simulator(Weekend([script]), viewpoints=3, speed=SPEED, start_et=240.0) as sim,
            CoreServer(tmp_path, SPEED) as server,
        ):
            members = [TeamClient(tmp_path, server.url, sim, i, SPEED) for i in range(3)]
            try:
                members[0].start()
                members[1].start()
                feed = server.feed
                await until(lambda: any(s.tracker.cars for s in feed.sessions.values()), 15,
                            "a tracked session with cars")  # fmt: skip
                await until_et(sim, 0, 600.0)
                (sid,) = list(feed.sessions)
                driving = feed.arbiter.driving_client(sid)
                leaver = next(m for m in members[:2] if m.client_id == driving)
                stayer = next(m for m in members[:2] if m is not leaver)
                await leaver.stop()
                await until_et(sim, 0, 1200.0)
                assert feed.arbiter.driving_client(sid) == stayer.client_id
                members[2].start()
                await until_et(sim, 0, 1500.0)
                roles = {c["name"]: c["role"] for c in feed.status()[0]["clients"]}
                assert sorted(roles.values()) == ["primary", "secondary"], roles
                hole_start = feed.sessions[sid].tracker.last_et
                await sim.set_state(stayer.index, "menu")
                await sim.set_state(2, "menu")
                await until(lambda: not feed.arbiter.session(sid).clients, 10, "everyone gone")
                await until_et(sim, 0, 1800.0)
                await sim.set_state(stayer.index, "session")
                await until(lambda: stayer.backfills > 0, 15, "the backfill request")
                await until_et(sim, 0, 2000.0)
                status = await server.status()
                last_et = feed.sessions[sid].tracker.last_et
            finally:
                for member in members:
                    await member.stop()
            return sid, status, hole_start, last_et

    sid, status, hole_start, last_et = run(scenario(), timeout=240)
    assert [s["session_id"] for s in status["sessions"]] == [sid]
    assert status["sessions"][0]["cars"] == 12
    conn = read_db(tmp_path / "server" / "lmust.db")
    sessions = conn.execute("SELECT session_id, track, session_type FROM sessions").fetchall()
    assert [tuple(r) for r in sessions] == [(sid, script.track.name, "RACE1")]
    assert_events_in_order(conn, sid)
    # Every lap completed before the end, exactly once (the backfill brought those before the
    # first client came, too); none from the future.
    want = scripted_laps(script, last_et)
    got = stored_laps(conn, sid)
    missing = sorted(set(want) - set(got))
    assert not missing, f"{len(missing)} laps missing: {missing[:10]}"
    assert sorted(set(got) - set(want)) == []
    for key, lap in want.items():
        row = got[key]
        assert row["lap_time"] == pytest.approx(lap.lap_time if lap.lap_time > 0 else -1, abs=2e-3)
        assert row["driver"] == lap.driver, key
    # The hole of 5 minutes was filled from the game's lap history.
    in_hole = [k for k, lap in want.items() if hole_start + 150 < lap.end_et < hole_start + 300]
    assert in_hole
    sources = {got[k]["source"] for k in in_hole}
    assert "history" in sources, sources
    # Who fed the session, with roles.
    changes = conn.execute(
        "SELECT change, count(*) FROM session_clients WHERE session_id = ? GROUP BY change",
        (sid,),
    ).fetchall()
    counts = dict(tuple(r) for r in changes)
    assert counts["joined"] >= 4 and counts["left"] >= 3 and counts["driving"] >= 2, counts


@pytest.mark.timeout(120)
def test_a_client_joining_mid_race_brings_the_laps_before_it_from_the_history(tmp_path):
    """The first client arrives 10 minutes in: the server asks it for the game's lap history at
    once, so the laps driven before anyone watched are stored too (source "history")."""
    script = generate_session(seed=31, cars=8, duration=1800)

    async def scenario():
        async with (
            Simulator(Weekend([script]), viewpoints=1, speed=SPEED, start_et=600.0) as sim,
            CoreServer(tmp_path, SPEED) as server,
        ):
            member = TeamClient(tmp_path, server.url, sim, 0, SPEED)
            try:
                member.start()
                await until(lambda: member.backfills > 0, 20, "the backfill request")
                await until_et(sim, 0, 720.0)
                (sid,) = list(server.feed.sessions)
                last_et = server.feed.sessions[sid].tracker.last_et
            finally:
                await member.stop()
            return sid, last_et

    sid, last_et = run(scenario(), timeout=100)
    conn = read_db(tmp_path / "server" / "lmust.db")
    want = scripted_laps(script, last_et)
    got = stored_laps(conn, sid)
    early = [k for k, lap in want.items() if lap.end_et < 560.0]
    assert early, "the race should have laps before the client came"
    missing = sorted(set(want) - set(got))
    assert not missing, f"{len(missing)} laps missing: {missing[:10]}"
    assert {got[k]["source"] for k in early} == {"history"}
    assert_events_in_order(conn, sid)
