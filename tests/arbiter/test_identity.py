"""Session identity: which observations are one session, which are another, which are none."""

from __future__ import annotations

import dataclasses
import functools

import orjson
from arbiter_docs import (
    CHECKERED,
    car,
    closed,
    fast_config,
    menu,
    replay,
    settle,
    sim_state,
    state,
)

from server.arbiter import Arbiter, ClientJoinedSession, SessionClosed, SessionCreated
from server.sessions import session_id
from sim.synthetic import generate_session
from sim.viewpoint import ViewState


def kinds(actions) -> list[str]:
    return [a.kind for a in actions]


def test_three_team_members_of_one_race_share_one_session():
    script = generate_session(seed=11, cars=12, duration=3600)
    players = [c.entry.slot_id for c in script.cars[:3]]
    arb = Arbiter(fast_config())
    views = {
        f"c{i}": functools.partial(sim_state, script, player_slot=s, index=i)
        for i, s in enumerate(players)
    }
    for i, cid in enumerate(views):
        arb.connect(cid, f"member {i}", now=0.0)
    first = settle(arb, "c0", lambda et: views["c0"](et), 600.0, now=100.0)
    assert first.feed and first.session_id is not None
    decisions = [
        arb.observe(cid, views[cid](602.0 + i * 0.3), 602.0 + i * 0.3, 102.0 + i * 0.3)
        for i, cid in enumerate(views)
    ]
    assert {d.session_id for d in decisions} == {first.session_id}
    assert len(arb.sessions()) == 1
    view = arb.sessions()[0]
    assert sorted(c.client_id for c in view.clients) == ["c0", "c1", "c2"]
    assert view.driving_client == "c0" and view.track == script.track.name
    assert view.online and view.session_type == "RACE1"
    assert {arb.role(c) for c in ("c1", "c2")} == {"secondary"} and arb.role("c0") == "primary"
    joins = [a for d in decisions for a in d.actions if isinstance(a, ClientJoinedSession)]
    assert [a.client_id for a in joins] == ["c1", "c2"]
    # everything the arbiter returns is JSON-able through dataclasses.asdict
    orjson.dumps([dataclasses.asdict(d) for d in decisions])
    orjson.dumps([dataclasses.asdict(v) for v in arb.sessions()])


def test_a_new_session_needs_a_confirmed_reading():
    arb = Arbiter(fast_config())
    first = arb.observe("a", state(100.0), 100.0, now=0.0)
    assert first.session_id is None and first.reason == "pending" and not arb.sessions()
    # a backlog rushing through ET (resent messages) confirms nothing, however long it lasts
    for i in range(1, 8):
        rushed = arb.observe("a", state(100.0 + 10 * i), 100.0 + 10 * i, now=0.5 * i)
        assert rushed.session_id is None and not arb.sessions()
    confirmed = arb.observe("a", state(172.0), 172.0, now=5.0)
    assert confirmed.feed
    assert kinds(confirmed.actions) == [
        "session_created",
        "client_joined",
        "driving_client_changed",
    ]


def test_two_races_at_once_on_different_servers_stay_apart():
    arb = Arbiter(fast_config())
    a = settle(arb, "a", lambda et: state(et, server="Server A"), 500.0, now=0.0)
    b = settle(arb, "b", lambda et: state(et, server="Server B"), 500.0, now=0.0)
    c = settle(arb, "c", lambda et: state(et, server="Server A", port=1), 500.0, now=0.0)
    assert len({a.session_id, b.session_id, c.session_id}) == 3
    assert all(d.feed for d in (a, b, c))
    assert [s.server for s in arb.sessions()] == ["Server A", "Server B", "Server A"]


def test_same_track_and_type_on_one_server_restarted_is_a_new_session():
    arb = Arbiter(fast_config())
    cfg = arb.config
    first = settle(arb, "a", lambda et: state(et), 3000.0, now=0.0)
    arb.observe("b", state(3001.5), 3001.5, now=1.5)
    # the race restarts: both games go back to the grid at ET 0
    for now in (10.0, 11.0, 12.0):
        et = now - 10.0
        for cid in ("a", "b"):
            d = arb.observe(cid, state(et, phase=2, slots=range(10)), et, now)
    assert d.session_id is not None and d.session_id != first.session_id
    old, new = arb.sessions()
    assert old.session_id == first.session_id
    assert old.closed_reason == "superseded" and new.closed_at is None
    assert sorted(c.client_id for c in new.clients) == ["a", "b"]
    assert new.event_id == old.event_id  # a restart of an unfinished race: same event
    assert cfg.back_tolerance < 3000.0


def test_restart_seen_at_green_by_a_client_of_the_old_session():
    """A practice goes green at ET 30; a client whose own clock went back is not sent back to
    the old session while the new one waits for confirmation."""
    arb = Arbiter(fast_config())
    old = settle(arb, "a", lambda et: state(et, session="PRACTICE1"), 100.0, now=0.0)
    for i in range(4):
        d = arb.observe("a", state(40.0 + i, session="PRACTICE1"), 40.0 + i, now=10.0 + i)
        assert d.session_id != old.session_id
    assert d.feed and d.session_id is not None


def test_offline_sessions_are_never_shared():
    arb = Arbiter(fast_config())
    a = settle(arb, "a", lambda et: state(et, online=False), 500.0, now=0.0)
    b = settle(arb, "b", lambda et: state(et, online=False), 500.0, now=0.0)
    assert a.feed and b.feed and a.session_id != b.session_id
    views = {v.session_id: v for v in arb.sessions()}
    assert views[a.session_id].owner == "a" and not views[a.session_id].online
    # the owner's game going back to the menu ends its offline session
    left = arb.observe("a", menu(), 0.0, now=5.0)
    assert "session_closed" in kinds(left.actions)
    assert arb.session(a.session_id).closed_reason == "owner_left"


def test_a_replay_client_never_joins_or_creates_a_session():
    arb = Arbiter(fast_config())
    # a replay reporting a full session (defensive: normally it sends only `game`)
    looks_live = state(500.0)
    looks_live["game"]["replay"] = True
    for i in range(5):
        d = arb.observe("r", replay() if i % 2 else looks_live, 500.0 + i, now=float(i))
        assert d.session_id is None and not d.feed and d.reason == "replay"
    assert arb.sessions() == []
    live = settle(arb, "a", lambda et: state(et), 600.0, now=10.0)
    d = arb.observe("r", looks_live, 601.5, now=11.5)
    assert d.session_id is None and arb.session(live.session_id).clients[0].client_id == "a"
    # the simulated game in replay playback (it shows the whole session, flagged as a replay)
    script = generate_session(seed=2, cars=8, duration=1800)
    for i in range(4):
        doc = sim_state(script, 700.0 + i, 0, view_state=ViewState.REPLAY)
        assert doc["game"]["replay"] is True and "session" in doc
        d = arb.observe("sim", doc, 700.0 + i, now=10.0 + i)
        assert d.session_id is None and d.reason == "replay"
    assert len(arb.sessions()) == 1
    # a member that starts watching a replay leaves the session
    d = arb.observe("a", replay(), 602.0, now=12.0)
    assert kinds(d.actions) == ["client_left"] and d.actions[0].reason == "replay"


def test_cars_joining_and_leaving_mid_race_keep_one_session():
    arb = Arbiter(fast_config())
    s = settle(arb, "a", lambda et: state(et, slots=range(20)), 1000.0, now=0.0).session_id
    et, now = 1001.0, 1.0
    for step in range(12):  # 6 cars leave, 4 join, one or two at a time
        et, now = et + 1.0, now + 1.0
        slots = [*range(step // 2, 20), *range(100, 100 + step // 3)]
        assert arb.observe("a", state(et, slots=slots), et, now).session_id == s
    # a newcomer who sees the changed grid joins the same session
    d = settle(arb, "b", lambda e: state(e, slots=[*range(6, 20), *range(100, 104)]), et, now)
    assert d.session_id == s and len(arb.sessions()) == 1
    # a completely different entry list on the same server/track/type at the same time is not
    # this session (and does not fork it while it is being fed)
    other = state(et + 2, slots=range(200, 220))
    assert arb.observe("c", other, et + 2, now + 2).session_id is None


def test_stale_cars_while_the_next_session_loads_create_no_session():
    """The older tracker's 'session starting but cars finished': phase 0 with the previous
    session's finished cars places the client nowhere and creates nothing."""
    arb = Arbiter(fast_config())
    q = settle(arb, "a", lambda et: state(et, session="QUALIFY1", phase=CHECKERED), 900.0, 0.0)
    stale = {f"{s}-VEH_{s:02d}": car(s, finishStatus="FSTAT_FINISHED") for s in range(10)}
    for i in range(6):
        doc = state(0.0 + i, session="QUALIFY1", phase=0, car_rows=stale)
        d = arb.observe("a", doc, float(i), now=10.0 + i)
        assert not d.feed and d.reason == "stale_cars"
        doc = state(0.0 + i, session="RACE1", phase=0, car_rows=stale)
        assert arb.observe("a", doc, float(i), now=10.5 + i).reason == "stale_cars"
    assert [s.session_id for s in arb.sessions()] == [q.session_id]
    # no cars at all: also wait
    assert arb.observe("a", state(7.0, session="RACE1", car_rows={}), 7.0, 17.0).reason == (
        "no_cars"
    )
    assert len(arb.sessions()) == 1


def test_client_and_server_wall_clocks_do_not_matter():
    """Only ET and differences of the server's own `now` are used: the same story told at
    another server time, with clients whose ET runs a little behind (network delay), gives the
    same decisions."""

    def story(t0: float) -> list:
        arb = Arbiter(fast_config(), entropy=lambda n: b"\0" * n)
        out = []
        for step in range(20):
            now = t0 + step
            for lag, cid in ((0.0, "a"), (0.7, "b"), (1.9, "c")):
                et = 5000.0 + step - lag
                d = arb.observe(cid, state(et, player=ord(cid) - 97), et, now + lag / 10)
                out.append((cid, d.feed, d.reason, d.role, d.backfill_from))
        return out

    assert story(0.0) == story(1.75e9) == story(-3600.0 + 1e5)


def test_finished_session_takes_no_newcomers_but_its_clients_still_feed():
    arb = Arbiter(fast_config())
    s = settle(arb, "a", lambda et: state(et), 21598.0, now=0.0).session_id
    flag = arb.observe("a", state(21601.0, phase=CHECKERED), 21601.0, now=3.0)
    assert flag.feed and arb.session(s).finished
    late = arb.observe("b", state(21602.0, phase=CHECKERED), 21602.0, now=3.0)
    assert late.session_id is None and late.reason == "finished" and len(arb.sessions()) == 1
    assert arb.observe("a", state(21630.0, phase=CHECKERED), 21630.0, now=31.0).feed
    actions = arb.tick(now=31.0 + arb.config.finished_grace + 1)
    assert isinstance(actions[-1], SessionClosed) and actions[-1].reason == "checkered"
    # a closed session forks nothing: its readings are refused, no new session appears
    d = arb.observe("a", state(21700.0, phase=CHECKERED), 21700.0, now=400.0)
    assert d.reason == "closed" and len(arb.sessions()) == 1


def test_session_ids_are_time_ordered_32_hex():
    a = session_id(1.7e9, 1, b"\xff" * 8)
    b = session_id(1.7e9, 2, b"\x00" * 8)
    c = session_id(1.7e9 + 0.001, 0, b"\x00" * 8)
    assert len(a) == 32 and int(a, 16) and a < b < c
    assert a[12] == "7"  # the UUID version nibble


def test_game_closed_or_menu_leaves_and_returning_rejoins():
    arb = Arbiter(fast_config())
    s = settle(arb, "a", lambda et: state(et), 800.0, now=0.0).session_id
    arb.observe("b", state(801.5), 801.5, now=1.5)
    d = arb.observe("b", closed(), 0.0, now=2.0)
    assert d.reason == "game_closed" and kinds(d.actions) == ["client_left"]
    d = arb.observe("b", state(830.0), 830.0, now=30.0)
    assert d.session_id == s
    created = [a for a in d.actions if isinstance(a, SessionCreated)]
    assert created == []


def test_a_client_far_behind_a_fed_session_waits_instead_of_forking():
    """One game server runs one session at a time: a newcomer whose clock is far behind a
    session that others still feed is lagging or confused, not a second session."""
    arb = Arbiter(fast_config())
    sid = settle(arb, "a", lambda et: state(et), 5000.0, now=0.0).session_id
    behind = arb.config.late_window + 100.0
    for step in range(2, 30):
        arb.observe("a", state(5000.0 + step), 5000.0 + step, now=float(step))
        et = 5000.0 + step - behind
        d = arb.observe("slow", state(et, player=1), et, now=step + 0.5)
        assert d.session_id is None and d.reason == "pending"
    assert [s.session_id for s in arb.sessions()] == [sid]
    # once the session is no longer fed by anyone, the same readings are a new session
    # (this is how a restart seen by one client first is taken)
    arb.disconnect("a", now=30.0)
    for step in range(30, 34):
        et = 5000.0 + step - behind
        d = arb.observe("slow", state(et, player=1), et, now=step + 0.5)
    assert d.feed and d.session_id != sid
