"""The stream on both ends, without a network: client `Stream` (outbox) and server `StreamState`.

The property tests run a client stream and a server stream state over a simulated connection
that loses messages and acks, is cut, and whose server restarts, and check that the server
rebuilds exactly the client's state, applying no seq twice and skipping none.
"""

from __future__ import annotations

import functools
import random

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from client import normalize as n
from client.stream import BACKFILL, PATCH, SNAPSHOT, Stream
from schema import mergepatch, wire
from server.streams import Applied, Duplicate, NeedsResync, StreamState
from sim.render import REST, game_answers
from sim.synthetic import generate_session


def doc(laps: int, track: str = "Spa", **extra) -> dict:
    return {
        "game": {"running": True},
        "session": {"trackName": track, "session": "RACE1", "serverName": "S", "serverPort": 1},
        "cars": {"0-A": {"lapsCompleted": laps, "position": 1}, **extra},
    }


def canonical(state: dict) -> bytes:
    """Bytes that compare states exactly (types included) whatever their key order."""
    return orjson.dumps(state, option=orjson.OPT_SORT_KEYS)


def decoded(out) -> dict:
    return wire.decode(out.data, sender="client")


# --- the outbox, rule by rule -----------------------------------------------------------


def test_first_state_is_a_snapshot_then_patches_then_nothing_when_unchanged():
    s = Stream("run1")
    [first] = s.publish(doc(1), 10.0, now=0.0)
    assert (first.seq, first.kind) == (1, SNAPSHOT)
    assert decoded(first)["state"] == doc(1)
    [second] = s.publish(doc(2), 11.0, now=1.0)
    msg = decoded(second)
    assert (second.seq, second.kind, msg["base"]) == (2, PATCH, 1)
    assert msg["patch"] == {"cars": {"0-A": {"lapsCompleted": 2}}}
    assert s.publish(doc(2), 12.0, now=2.0) == []
    assert s.seq == 2 and s.pending == 2


def test_a_new_session_starts_with_a_snapshot():
    s = Stream("run1")
    s.publish(doc(1), 1.0, now=0.0)
    [out] = s.publish(doc(1, track="Monza"), 2.0, now=1.0)
    assert out.kind == SNAPSHOT and out.seq == 2


def test_a_patch_as_big_as_the_state_is_sent_as_a_snapshot():
    s = Stream("run1")
    s.publish({"cars": {"a": "x" * 10}}, 1.0, now=0.0)
    [out] = s.publish({"cars": {"b": "y" * 40_000}}, 2.0, now=1.0)
    assert out.kind == SNAPSHOT


def test_ack_is_cumulative_and_frees_the_outbox():
    s = Stream("run1")
    for lap in range(1, 6):
        s.publish(doc(lap), float(lap), now=float(lap))
    assert s.ack(3) == 3
    assert (s.acked, s.pending) == (3, 2)
    assert s.ack(2) == 0 and s.acked == 3
    assert s.ack(99) == 2 and s.acked == 5 and s.pending_bytes == 0


def test_unsent_messages_go_once_per_connection_in_order():
    s = Stream("run1")
    s.publish(doc(1), 1.0, now=0.0)
    s.publish(doc(2), 2.0, now=0.0)
    assert [o.seq for o in s.take_unsent()] == [1, 2]
    assert s.take_unsent() == []
    s.publish(doc(3), 3.0, now=0.0)
    assert [o.seq for o in s.take_unsent()] == [3]


def test_reconnect_resends_the_backlog_from_a_snapshot_with_the_same_bytes_after_it():
    s = Stream("run1")
    sent = [o for lap in range(1, 6) for o in s.publish(doc(lap), float(lap), now=0.0)]
    s.take_unsent()
    s.ack(2)
    again = s.on_reconnect(server_seq=3, now=1.0)  # the server applied 3, its ack got lost
    assert [o.seq for o in again] == [4, 5]
    assert again[0].kind == SNAPSHOT and decoded(again[0])["state"] == doc(4)
    assert again[1].data == sent[4].data  # the rest is resent byte for byte


def test_reconnect_without_backlog_sends_a_fresh_snapshot():
    s = Stream("run1")
    s.publish(doc(1), 1.0, now=0.0)
    s.publish(doc(2), 2.0, now=0.0)
    s.ack(2)
    [out] = s.on_reconnect(server_seq=2, now=1.0)
    assert (out.seq, out.kind) == (3, SNAPSHOT) and decoded(out)["state"] == doc(2)


def test_reconnect_before_anything_was_published_sends_nothing():
    assert Stream("run1").on_reconnect(0, now=0.0) == []


def test_server_ahead_of_the_client_restarts_the_numbering_past_it():
    s = Stream("run1")
    s.publish(doc(1), 1.0, now=0.0)
    [out] = s.on_reconnect(server_seq=7, now=1.0)
    assert (out.seq, out.kind) == (8, SNAPSHOT)


def test_resync_sends_the_last_state_as_a_snapshot():
    s = Stream("run1")
    s.publish(doc(1), 1.0, now=0.0)
    s.publish(doc(2), 2.0, now=0.0)
    [out] = s.resync(now=1.0)
    assert (out.seq, out.kind) == (3, SNAPSHOT) and decoded(out)["state"] == doc(2)
    assert decoded(out)["et"] == 2.0


def test_age_bound_drops_the_oldest_and_the_next_message_becomes_a_snapshot():
    s = Stream("run1", max_age=60.0)
    for lap in range(1, 6):
        s.publish(doc(lap), float(lap), now=float(lap * 10))  # at 10, 20, 30, 40, 50 s
    assert s.dropped == 0
    s.expire(now=85.0)  # 1 and 2 are older than 60 s
    assert s.dropped == 2
    left = s.on_reconnect(0, now=85.0)
    assert [o.seq for o in left] == [3, 4, 5]
    assert left[0].kind == SNAPSHOT and decoded(left[0])["state"] == doc(3)
    server = StreamState("run1")
    outcomes = [server.receive(decoded(o)) for o in left]
    assert all(isinstance(o, Applied) for o in outcomes) and server.state == doc(5)


def test_size_bound_keeps_the_newest():
    s = Stream("run1", max_bytes=1000)
    for lap in range(1, 40):
        s.publish(doc(lap, note="x" * 50), float(lap), now=0.0)
    assert s.pending_bytes <= 1000 and s.dropped > 0
    left = s.on_reconnect(0, now=0.0)
    assert left[0].kind == SNAPSHOT and left[-1].seq == 39
    server = StreamState("run1")
    for out in left:
        server.receive(decoded(out))
    assert server.state == doc(39, note="x" * 50)


def test_when_everything_is_dropped_the_next_publish_is_a_snapshot_even_unchanged():
    s = Stream("run1", max_age=10.0)
    s.publish(doc(1), 1.0, now=0.0)
    s.publish(doc(2), 2.0, now=0.0)
    [out] = s.publish(doc(2), 3.0, now=100.0)
    assert (out.seq, out.kind) == (3, SNAPSHOT)


def test_backfill_takes_a_seq_and_waits_for_the_first_state():
    s = Stream("run1")
    assert s.publish_backfill({"0": []}, 5.0, now=0.0) == []
    made = s.publish(doc(1), 6.0, now=0.0)
    assert [(o.seq, o.kind) for o in made] == [(1, SNAPSHOT), (2, BACKFILL)]
    assert decoded(made[1])["history"] == {"0": []}
    server = StreamState("run1")
    server.receive(decoded(made[0]))
    applied = server.receive(decoded(made[1]))
    assert isinstance(applied, Applied) and applied.kind == "backfill" and server.state == doc(1)


# --- the server's stream state ----------------------------------------------------------


def test_server_duplicate_gap_and_missing_base():
    server = StreamState("run1", last_seq=4)  # after a restart: seq known, state gone
    assert server.receive(wire.patch("run1", 3, 1.0, 1.0, {})) == Duplicate(3, 4)
    first = server.receive(wire.patch("run1", 5, 1.0, 1.0, {"a": 1}))
    assert isinstance(first, NeedsResync) and first.ask
    later = server.receive(wire.patch("run1", 6, 1.0, 1.0, {"a": 2}))
    assert isinstance(later, NeedsResync) and not later.ask  # asked once, now waiting
    assert isinstance(server.receive(wire.snapshot("run1", 9, 1.0, 1.0, {"a": 0})), Applied)
    gap = server.receive(wire.patch("run1", 11, 1.0, 1.0, {"a": 3}))
    assert isinstance(gap, NeedsResync) and gap.ask and server.state == {"a": 0}


# --- property: a lossy connection loses and duplicates nothing --------------------------


@functools.cache
def real_states() -> tuple[dict, ...]:
    """Normalized client states of a synthetic race, read the way the client reads the game."""
    script = generate_session(seed=7, cars=6, duration=1200)
    paths = [p for p in n.REST_ENDPOINTS if p in REST]
    return tuple(
        n.normalize(game_answers(script, float(et), paths=paths)) for et in range(60, 1200, 45)
    )


scalars = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.booleans(),
)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.dictionaries(st.sampled_from("abcde"), inner, max_size=4) | st.lists(inner, max_size=3)
    ),
    max_leaves=12,
).map(lambda value: {"doc": value})

events = st.lists(
    st.one_of(
        st.tuples(st.just("publish"), documents),
        st.tuples(st.just("real"), st.integers(0, 1000)),
        st.tuples(st.just("backfill"), st.integers(0, 9)),
        st.tuples(st.just("deliver"), st.integers(0, 4)),  # server takes n frames
        st.tuples(st.just("hear"), st.integers(0, 4)),  # client takes n server frames
        st.tuples(st.just("cut"), st.booleans()),  # connection lost (True: server restarts)
    ),
    max_size=60,
)


class Link:
    """A client stream, a server stream state with its 'database', and one connection."""

    def __init__(self, stream: Stream) -> None:
        self.client = stream
        self.db_seq = 0  # what SQLite would hold: the last acked seq
        self.server = StreamState(stream.id)
        self.up: list[bytes] = []
        self.down: list[dict] = []
        self.applied: list[int] = []
        self.last_state: dict | None = None
        self.connect()

    def connect(self) -> None:
        self.up = [o.data for o in self.client.on_reconnect(self.db_seq, now=0.0)]
        self.down = []

    def cut(self, restart: bool) -> None:
        if restart:
            self.server = StreamState(self.client.id, self.db_seq)
        self.connect()

    def send(self) -> None:
        self.up += [o.data for o in self.client.take_unsent()]

    def deliver(self, count: int) -> None:
        for data in self.up[:count]:
            outcome = self.server.receive(wire.decode(data, sender="client"))
            if isinstance(outcome, Applied):
                self.applied.append(outcome.seq)
                self.db_seq = outcome.seq
                self.down.append(wire.ack(self.client.id, outcome.seq))
            elif isinstance(outcome, Duplicate):
                self.down.append(wire.ack(self.client.id, outcome.last))
            elif outcome.ask:
                self.down.append(wire.resync(self.client.id, outcome.reason))
        del self.up[:count]

    def hear(self, count: int) -> None:
        for msg in self.down[:count]:
            if msg["type"] == "ack":
                self.client.ack(msg["seq"])
            else:
                self.client.resync(now=0.0)
        del self.down[:count]
        self.send()

    def settle(self) -> None:
        """Reconnect and run until nothing moves (what a healthy connection does)."""
        self.connect()
        for _ in range(100):
            if not self.up and not self.down:
                return
            self.deliver(len(self.up))
            self.hear(len(self.down))
        raise AssertionError("the stream never settled")


def run_events(link: Link, script: list) -> None:
    states = real_states()
    for kind, arg in script:
        if kind in ("publish", "real"):
            state = arg if kind == "publish" else states[arg % len(states)]
            link.client.publish(state, 1.0, now=0.0)
            link.last_state = state
            link.send()
        elif kind == "backfill":
            link.client.publish_backfill({"laps": arg}, 1.0, now=0.0)
            link.send()
        elif kind == "deliver":
            link.deliver(arg)
        elif kind == "hear":
            link.hear(arg)
        else:
            link.cut(restart=arg)
    link.settle()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events)
def test_lossy_connection_rebuilds_the_exact_state_applying_each_seq_once(script):
    link = Link(Stream("prop"))
    run_events(link, script)
    if link.last_state is None:
        assert link.applied == [] or link.client.seq == 0
        return
    assert mergepatch.same(link.server.state, link.last_state)
    assert canonical(link.server.state) == canonical(link.last_state)
    assert link.applied == list(range(1, link.client.seq + 1))  # every seq once, in order
    assert link.client.pending == 0 and link.client.acked == link.client.seq


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events, st.integers(300, 3000))
def test_tight_outbox_bounds_still_end_with_the_exact_state(script, max_bytes):
    link = Link(Stream("tight", max_bytes=max_bytes))
    run_events(link, [(k, a) for k, a in script if k != "real"])  # small documents only
    if link.last_state is None:
        return
    assert mergepatch.same(link.server.state, link.last_state)
    assert link.applied == sorted(set(link.applied))  # never twice, never backwards


def test_real_states_are_patchable_and_differ():
    states = real_states()
    assert len(states) > 20
    for state in states:
        mergepatch.assert_patchable(state)
    assert states[0]["cars"] and not mergepatch.same(states[0], states[-1])


def test_many_random_real_sequences():
    """A longer, seeded run over the real race states only (cheap next to hypothesis)."""
    rng = random.Random(11)
    for _ in range(20):
        script = []
        for _ in range(80):
            roll = rng.random()
            if roll < 0.5:
                script.append(("real", rng.randrange(1000)))
            elif roll < 0.7:
                script.append(("deliver", rng.randrange(5)))
            elif roll < 0.9:
                script.append(("hear", rng.randrange(5)))
            else:
                script.append(("cut", rng.random() < 0.3))
        link = Link(Stream("seeded"))
        run_events(link, script)
        assert canonical(link.server.state) == canonical(link.last_state)
        assert link.applied == list(range(1, link.client.seq + 1))


@pytest.mark.parametrize("kind", [SNAPSHOT, PATCH])
def test_every_message_validates_against_the_wire_schema(kind):
    s = Stream("run1")
    made = s.publish(real_states()[0], 60.0, now=1.0) + s.publish(real_states()[3], 195.0, 2.0)
    out = next(o for o in made if o.kind == kind)
    wire.validate(orjson.loads(out.data))
