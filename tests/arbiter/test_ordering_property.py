"""Property: whatever the interleaving of several clients' streams of one race (lags, network
delays, drops, disconnects with resent backlogs), the tracker sees one session and one strictly
increasing stream, and a fresher observation is never held back when nobody else is driving."""

from __future__ import annotations

from dataclasses import dataclass

from arbiter_docs import fast_config, state
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.arbiter import Arbiter

RACE_START_ET = 5000.0
TICKS = 40


@dataclass(frozen=True)
class ClientPlan:
    lag: float  # how far its game's ET is behind the race (s)
    phase: float  # when in each second it reads the game
    delays: tuple[float, ...]  # network delay per tick
    drops: tuple[bool, ...]  # a tick it did not send (game stutter)
    outage: tuple[int, int] | None  # (first tick, ticks) without a connection


def client_plans() -> st.SearchStrategy[ClientPlan]:
    return st.builds(
        ClientPlan,
        lag=st.floats(0.0, 3.0) | st.floats(10.0, 15.0),
        phase=st.floats(0.0, 0.99),
        delays=st.lists(st.floats(0.0, 1.5), min_size=TICKS, max_size=TICKS).map(tuple),
        drops=st.lists(st.booleans(), min_size=TICKS, max_size=TICKS).map(
            lambda xs: tuple(x and i % 3 == 0 for i, x in enumerate(xs))
        ),
        outage=st.none() | st.tuples(st.integers(2, TICKS - 2), st.integers(1, 15)),
    )


def events_of(plans: list[ClientPlan]) -> list[tuple[float, int, str, str, float]]:
    """(arrival time, order, kind, client, et), sorted by arrival; per client in send order."""
    events = []
    order = 0
    for index, plan in enumerate(plans):
        cid = f"c{index}"
        down = None
        if plan.outage is not None:
            start, length = plan.outage
            down = (start + plan.phase + 0.05, start + length + plan.phase + 0.05)
            events.append((down[0], order, "disconnect", cid, 0.0))
            events.append((down[1], order + 1, "connect", cid, 0.0))
            order += 2
        arrived = 0.0
        backlog = 0
        for tick in range(TICKS):
            if plan.drops[tick]:
                continue
            read_at = tick + plan.phase
            et = RACE_START_ET + read_at - plan.lag
            at = max(arrived, read_at + plan.delays[tick])
            if down is not None and down[0] <= at < down[1]:
                backlog += 1
                at = down[1] + 0.001 * backlog  # resent after the reconnect, in order
            arrived = at
            events.append((at, order, "observe", cid, et))
            order += 1
    return sorted(events, key=lambda e: (e[0], e[1]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(client_plans(), min_size=2, max_size=4))
def test_fed_stream_is_monotonic_gap_free_and_one_session(plans):
    arb = Arbiter(fast_config())
    takeover, lead = arb.config.takeover_after, arb.config.takeover_lead
    for index in range(len(plans)):
        arb.connect(f"c{index}", f"member {index}", 0.0)
    fed: list[float] = []
    session = None
    driver = None
    last_fed_at = None
    for now, _, kind, cid, et in events_of(plans):
        if kind == "disconnect":
            arb.disconnect(cid, now)
            if driver == cid:
                driver = None  # it left; reconnecting does not make it the driving client
            continue
        if kind == "connect":
            arb.connect(cid, cid, now)
            continue
        d = arb.observe(cid, state(et, player=int(cid[1:])), et, now)
        if session is None:
            if d.session_id is None:
                assert d.reason == "pending"
                continue
            session = d.session_id
            assert d.feed
        else:
            assert d.session_id == session, "one race, one session"
            # the specification of feeding: newer than everything fed, and from the driving
            # client unless that one left, went quiet or fell behind; then the first fresher
            # one, at once
            newer = et > fed[-1]
            may_drive = driver in (None, cid) or now - last_fed_at > takeover or et - fed[-1] > lead
            assert d.feed == (newer and may_drive), (cid, et, fed[-1], driver)
        if d.feed:
            assert not fed or et > fed[-1]
            fed.append(et)
            driver, last_fed_at = cid, now
            assert arb.driving_client(session) == cid and d.role == "primary"
    assert len(arb.sessions()) == (1 if session else 0)
    assert fed == sorted(set(fed))
