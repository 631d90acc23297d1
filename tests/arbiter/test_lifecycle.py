"""Linking a weekend, closing sessions, and restoring them after a server restart."""

from __future__ import annotations

import dataclasses

from arbiter_docs import CHECKERED, fast_config, settle, sim_state, state

from server.arbiter import Arbiter, SessionLinked, SessionRecord
from sim.synthetic import generate_weekend


def test_a_weekend_practice_qualifying_race_is_three_linked_sessions_of_one_event():
    weekend = generate_weekend(
        seed=4, cars=10, race_duration=1800, practice_duration=600, qualifying_duration=600
    )
    # one game server runs the whole weekend (the generator draws a server per session)
    for script in weekend.sessions:
        script.server_name, script.server_port = "Weekend Server", 64297
    players = {"a": 0, "b": 3, "c": 7}
    arb = Arbiter(fast_config())
    now = 0.0
    links = []
    for script in weekend.sessions:
        for et in (60.0, 61.0, 62.0, 63.0, 64.0):
            now += 1.0
            for i, (cid, slot) in enumerate(players.items()):
                doc = sim_state(script, et + i * 0.2, slot, index=i)
                d = arb.observe(cid, doc, et + i * 0.2, now + i * 0.2)
                links += [a for a in d.actions if isinstance(a, SessionLinked)]
        now += 20.0  # loading the next session
    views = arb.sessions()
    assert [v.session_type for v in views] == ["PRACTICE1", "QUALIFY1", "RACE1"]
    assert len({v.event_id for v in views}) == 1
    assert views[0].event_id == views[0].session_id
    assert [(a.previous, a.session_id) for a in links] == [
        (views[0].session_id, views[1].session_id),
        (views[1].session_id, views[2].session_id),
    ]
    # once everybody moved on, the earlier sessions are closed, the race is live with all three
    assert [v.closed_reason for v in views] == ["superseded", "superseded", None]
    assert sorted(c.client_id for c in views[2].clients) == ["a", "b", "c"]


def test_a_new_weekend_on_the_same_server_is_a_new_event():
    arb = Arbiter(fast_config())
    race = settle(arb, "a", lambda et: state(et, phase=CHECKERED), 3600.0, now=0.0)
    arb.tick(now=1000.0)  # closed after the flag
    practice = settle(arb, "a", lambda et: state(et, session="PRACTICE1"), 40.0, now=1100.0)
    views = {v.session_id: v for v in arb.sessions()}
    assert views[practice.session_id].event_id != views[race.session_id].event_id
    # and a restart of a finished race is not the same event either
    again = settle(arb, "b", lambda et: state(et, server="Other"), 50.0, now=1200.0)
    arb.observe("b", state(80.0, server="Other", phase=CHECKERED), 80.0, now=1230.0)
    arb.tick(now=1230.0 + arb.config.finished_grace + 1)
    restart = settle(arb, "b", lambda et: state(et, server="Other", phase=0), 1.0, now=1500.0)
    views = {v.session_id: v for v in arb.sessions()}
    assert views[restart.session_id].event_id != views[again.session_id].event_id


def test_closing_checkered_after_grace_but_not_before():
    arb = Arbiter(fast_config())
    sid = settle(arb, "a", lambda et: state(et), 3598.0, now=0.0).session_id
    arb.observe("a", state(3601.0, phase=CHECKERED), 3601.0, now=3.0)
    grace = arb.config.finished_grace
    assert arb.tick(now=3.0 + grace - 1) == []
    assert arb.observe("a", state(3640.0, phase=CHECKERED), 3640.0, now=42.0).feed
    assert arb.tick(now=42.0 + grace - 1) == []
    closing = arb.tick(now=42.0 + grace + 1)
    assert [a.kind for a in closing] == ["client_left", "session_closed"]
    assert arb.session(sid).closed_reason == "checkered"
    assert arb.session_of("a") is None


def test_a_long_race_is_not_closed_by_silence_shorter_than_its_remaining_time():
    arb = Arbiter(fast_config())
    sid = settle(arb, "a", lambda et: state(et, max_time=86400.0), 3600.0, now=0.0).session_id
    arb.disconnect("a", now=2.0)
    margin = arb.config.close_margin
    remaining = 86400.0 - 3601.0
    assert arb.tick(now=1.0 + 20 * 60) == []  # the older tracker's 20 minutes
    assert arb.tick(now=1.0 + remaining + margin - 5) == []
    closing = arb.tick(now=1.0 + remaining + margin + 5)
    assert [a.kind for a in closing] == ["session_closed"]
    assert arb.session(sid).closed_reason == "timeout"
    # forgotten after keep_closed
    arb.tick(now=1.0 + remaining + margin + 5 + arb.config.keep_closed + 1)
    assert arb.session(sid) is None


def test_a_client_present_keeps_a_paused_session_open():
    arb = Arbiter(fast_config())
    sid = settle(arb, "a", lambda et: state(et, max_time=1200.0), 1100.0, now=0.0).session_id
    for now in range(0, 4000, 60):
        arb.observe("a", state(1101.0, phase=9, max_time=1200.0), 1101.0, now=2.0 + now)
        assert arb.tick(now=2.0 + now) == []
    assert arb.session(sid).closed_at is None


def test_restore_after_a_server_restart_returning_clients_rejoin():
    arb = Arbiter(fast_config())
    sid = settle(arb, "a", lambda et: state(et, max_time=86400.0), 40000.0, now=0.0).session_id
    arb.observe("b", state(40001.5, player=1, max_time=86400.0), 40001.5, now=1.5)
    arb.observe("a", state(40002.0, max_time=86400.0), 40002.0, now=2.0)
    records = arb.records()
    assert [r.session_id for r in records] == [sid]
    # the store keeps plain values (round trip through a dict, like a row)
    stored = [dataclasses.asdict(r) for r in records]
    reloaded = [
        SessionRecord(**{**r, "cars": tuple(r["cars"]), "members": tuple(r["members"])})
        for r in stored
    ]
    # the server was down for 40 minutes: far longer than the older tracker's prune limits
    fresh = Arbiter(fast_config())
    assert fresh.restore(reloaded, now=2400.0) == []
    assert fresh.tick(now=2400.0) == []
    d = fresh.observe("b", state(42400.0, player=1, max_time=86400.0), 42400.0, now=2400.0)
    assert d.session_id == sid and d.feed and d.backfill_from == 40002.0
    assert fresh.observe("a", state(42400.5, max_time=86400.0), 42400.5, 2400.5).session_id == sid
    view = fresh.session(sid)
    assert view.event_id == records[0].event_id and len(fresh.sessions()) == 1
    assert sorted(c.client_id for c in view.clients) == ["a", "b"]


def test_restored_finished_session_lets_its_members_send_and_then_closes():
    arb = Arbiter(fast_config())
    record = SessionRecord(
        session_id="0190000000007000800000000000abcd",
        event_id="0190000000007000800000000000abcd",
        online=True,
        server="Endurance Club #1",
        port=54297,
        track="Algarve International Circuit",
        session_type="RACE1",
        last_et=21610.0,
        last_fed_at=1000.0,
        phase=CHECKERED,
        cars=tuple(f"{s}-VEH_{s:02d}" for s in range(10)),
        members=("a",),
    )
    arb.restore([record], now=1010.0)
    d = arb.observe("a", state(21620.0, phase=CHECKERED), 21620.0, now=1020.0)
    assert d.feed and d.session_id == record.session_id
    newcomer = arb.observe("z", state(21621.0, phase=CHECKERED), 21621.0, now=1021.0)
    assert newcomer.reason == "finished"
    assert [a.kind for a in arb.tick(now=1020.0 + arb.config.finished_grace + 1)][-1] == (
        "session_closed"
    )
