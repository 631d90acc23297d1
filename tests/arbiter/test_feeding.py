"""Ordering and driving: one monotonic stream, the driving client, takeover, backfill."""

from __future__ import annotations

from arbiter_docs import fast_config, menu, settle, state

from schema import wire
from server.arbiter import Arbiter, DrivingClientChanged
from server.roles import HISTORY, plan_fields


def race(*clients: str, et: float = 3600.0, now: float = 0.0) -> tuple[Arbiter, str]:
    """An arbiter with a race fed by the first client and joined by the others."""
    arb = Arbiter(fast_config())
    for cid in clients:
        arb.connect(cid, cid.upper(), now)
    sid = settle(arb, clients[0], lambda e: state(e), et, now).session_id
    for i, cid in enumerate(clients[1:]):
        d = arb.observe(cid, state(et + 1.0, player=i + 1), et + 1.0, now + 1.2)
        assert d.session_id == sid and not d.feed
    return arb, sid


def test_the_driving_client_is_followed_while_it_feeds():
    arb, sid = race("a", "b")
    fed = []
    for step in range(2, 12):
        for cid, offset in (("b", 0.4), ("a", 0.0)):  # b is always a little fresher
            et = 3600.0 + step + offset
            d = arb.observe(cid, state(et), et, now=step + 0.1)
            if d.feed:
                fed.append((cid, et))
            else:
                assert d.reason in ("standby", "late")
    assert {cid for cid, _ in fed} == {"a"}
    assert arb.driving_client(sid) == "a"
    assert arb.role("a") == "primary" and arb.role("b") == "secondary"


def test_the_driving_client_leaves_and_the_next_observation_is_fed_at_once():
    arb, sid = race("a", "b", "c")
    arb.observe("a", state(3602.0), 3602.0, now=2.0)
    left = arb.disconnect("a", now=2.5)
    assert [x.kind for x in left] == ["client_left"]
    # the very next fresher observation, whoever sends it, is fed: no gap
    d = arb.observe("c", state(3602.6, player=2), 3602.6, now=2.6)
    assert d.feed and d.role == "primary"
    change = [x for x in d.actions if isinstance(x, DrivingClientChanged)]
    assert [(x.previous, x.current, x.reason) for x in change] == [("a", "c", "left")]
    assert arb.observe("b", state(3602.8, player=1), 3602.8, now=2.8).reason == "standby"
    # going to the menu is leaving too
    arb.observe("c", menu(), 0.0, now=3.0)
    d = arb.observe("b", state(3603.1, player=1), 3603.1, now=3.1)
    assert d.feed and arb.driving_client(sid) == "b"
    assert arb.session(sid).clients[0].client_id == "b"


def test_a_quiet_driving_client_is_replaced_after_two_update_periods():
    arb, sid = race("a", "b")
    arb.observe("a", state(3602.0), 3602.0, now=2.0)
    # a's game hangs: it sends nothing newer; b keeps reporting
    fed_at = None
    for tenth in range(21, 60):
        now = tenth / 10 + 0.05
        d = arb.observe("b", state(3600.0 + now, player=1), 3600.0 + now, now)
        if d.feed:
            fed_at = now
            assert [x.reason for x in d.actions] == ["quiet"]
            break
    assert fed_at is not None and 2.0 + arb.config.takeover_after < fed_at <= 4.6
    assert arb.driving_client(sid) == "b" and arb.role("a") == "secondary"


def test_a_driving_client_whose_game_fell_far_behind_is_replaced():
    arb, sid = race("a", "b")
    lead = arb.config.takeover_lead
    for step in range(2, 6):  # a's game stutters: its clock crawls, far behind b's
        et = 3601.0 + step / 10
        assert arb.observe("a", state(et), et, now=step).feed == (step == 2)
        et = 3601.0 + lead + step
        d = arb.observe("b", state(et, player=1), et, now=step + 0.5)
        assert d.feed
        if step == 2:
            assert [x.reason for x in d.actions] == ["behind"]
    assert arb.driving_client(sid) == "b"
    # a few seconds ahead of the driving client is no reason to switch games
    et = 3601.0 + lead + 5 + 3
    assert arb.observe("a", state(et), et, now=6.0).reason == "standby"


def test_a_lagging_clients_older_observations_are_never_fed():
    arb, sid = race("a", "lag")
    last = 3601.0
    for step in range(2, 40):
        et = 3600.0 + step
        assert arb.observe("a", state(et), et, now=step).feed
        last = et
        # lag runs 5 s behind; and once a is gone, lag only feeds what is newer than the last
        old = et - 5.0
        d = arb.observe("lag", state(old, player=1), old, now=step + 0.5)
        assert not d.feed and d.reason == "late" and d.session_id == sid
    arb.disconnect("a", now=40.0)
    fed = []
    for step in range(40, 50):
        old = 3600.0 + step - 5.0
        d = arb.observe("lag", state(old, player=1), old, now=step + 0.5)
        if d.feed:
            fed.append(old)
    assert fed and min(fed) > last
    assert fed == sorted(fed)


def test_all_leave_for_five_minutes_and_one_returns_same_session_with_backfill():
    arb, sid = race("a", "b")
    arb.observe("a", state(3602.0), 3602.0, now=2.0)
    arb.disconnect("a", now=2.5)
    arb.observe("b", menu(), 0.0, now=3.0)
    assert arb.session(sid).clients == []
    assert arb.tick(now=300.0) == []  # a 6 h race: 5 minutes of silence close nothing
    d = arb.observe("b", state(3902.0, player=1), 3902.0, now=302.0)
    assert d.session_id == sid and d.feed and d.backfill_from == 3602.0
    assert len(arb.sessions()) == 1
    # the backfill is asked once; the next observation is ordinary
    assert arb.observe("b", state(3903.0, player=1), 3903.0, now=303.0).backfill_from is None
    # and the plan asks that client for the lap history
    plan = wire.plan(**plan_fields(d.role, sid, backfill=d.backfill_from is not None))
    wire.validate(plan)
    assert plan["fetch"][HISTORY] is True and plan["role"] == "primary"


def test_a_paused_session_asks_no_backfill():
    arb, _ = race("a")
    for now in range(2, 40):  # paused: ET frozen, nothing newer to feed
        d = arb.observe("a", state(3601.0, phase=9), 3601.0, now=float(now))
        assert not d.feed
    d = arb.observe("a", state(3602.0), 3602.0, now=41.0)
    assert d.feed and d.backfill_from is None


def test_plans_follow_roles():
    primary = wire.plan(**plan_fields("primary", "s1"))
    secondary = wire.plan(**plan_fields("secondary", "s1"))
    nowhere = wire.plan(**plan_fields(None, None))
    for plan in (primary, secondary, nowhere):
        wire.validate(plan)
    assert primary["fetch"]["/rest/chat/"] is True
    assert secondary["fetch"]["/rest/chat/"] is False
    # team-private data is read by everyone (slowly by secondaries)
    assert secondary["fetch"]["/rest/strategy/usage"] is True
    assert secondary["intervals"]["/rest/strategy/overall"] >= 5
    assert nowhere["fetch"] == {} and "role" not in nowhere
