"""Hostile input against a real server while a real client streams a real (simulated) race to it.

Every attack must get a clear error frame or close reason, the server must keep answering
/healthz, and the neighbour's session must keep counting laps with no error counted against it.
Property-based parts (hypothesis) are bounded: a few dozen examples each, well under a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import pytest
from hostile_harness import (
    LiveServer,
    answers,
    close_code,
    handshake,
    identity,
    next_address,
    open_from,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from client.uplink import Uplink
from schema import wire
from server.ingest import ERROR_LIMIT, KEEP_GONE

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
    print_blob=True,
)
PROBE_SEQ = 10**6  # above any seq the strategies make: a snapshot with it is always applied


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = LiveServer(tmp_path_factory.mktemp("hostile")).start()
    yield live
    live.stop()


@pytest.fixture
def neighbour(server):
    """The neighbour's session id and lap count before the test; afterwards, checks that the
    server is up and those laps kept counting."""
    session = server.neighbour_session()
    yield session["session_id"]
    server.assert_neighbour_untouched(session["session_id"], session["laps"])


# --- strategies ------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=25,
)
json_objects = st.dictionaries(st.text(max_size=10), json_values, max_size=5)
streams = st.sampled_from(["s", "t", "", "x" * 65, "bad stream!"])
seqs = st.integers(min_value=-3, max_value=60) | st.sampled_from([0, 2**53, 2**64])
ghost_cars = st.dictionaries(
    st.text(min_size=1, max_size=12), json_values | st.none(), min_size=1, max_size=3
)
message_shaped = st.fixed_dictionaries(
    {"type": st.sampled_from(sorted(wire.CLIENT_TYPES | {"ack", "welcome", "nope"}))},
    optional={
        "stream": streams | json_values,
        "seq": seqs | json_values,
        "base": seqs,
        "et": st.floats(allow_nan=False) | json_values,
        "sent_at": st.floats(allow_nan=False, allow_infinity=False),
        "state": json_objects | json_values,
        "patch": json_objects | json_values,
        "history": json_values,
        "reason": json_values,
        "public_key": st.text(max_size=50) | json_values,
        "signature": st.text(max_size=90),
        "protocol": st.integers() | json_values,
        "client_version": json_values,
    },
)


@st.composite
def stream_messages(draw) -> dict:
    """Well-formed snapshots and patches with gaps, replays, garbage states and patches for
    cars that do not exist."""
    seq = draw(st.integers(min_value=1, max_value=12))
    et = draw(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False))
    stream = draw(st.sampled_from(["s", "s", "s", "t"]))
    if draw(st.booleans()):
        state = draw(json_objects)
        if draw(st.booleans()):
            state["cars"] = draw(ghost_cars)
        return wire.snapshot(stream, seq, et, time.time(), state)
    change = draw(st.sampled_from(["cars", "session", "game", "other"]))
    patch = {"cars": draw(ghost_cars)} if change == "cars" else {change: draw(json_values)}
    return wire.patch(stream, seq, et, time.time(), patch)


def as_frame(doc) -> bytes:
    """JSON bytes (the standard library's: integers of any size, unlike orjson)."""
    return json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")


frames = st.one_of(
    st.binary(max_size=300).map(lambda b: ("binary", b)),
    st.text(max_size=300).map(lambda t: ("text", t)),
    json_values.map(lambda v: ("text", as_frame(v).decode())),
    message_shaped.map(lambda m: ("text", as_frame(m).decode())),
    stream_messages().map(lambda m: ("text", as_frame(m).decode())),
    stream_messages().map(lambda m: ("binary", as_frame(m))),
)


def send(ws, frame: tuple[str, str | bytes]) -> None:
    kind, data = frame
    if kind == "binary":
        ws.send(data if isinstance(data, bytes) else data.encode())
    else:
        ws.send(data if isinstance(data, str) else data.decode("utf-8", "replace"))


def assert_clear_errors(messages: list[dict]) -> None:
    for msg in messages:
        if msg["type"] == "error":
            assert msg["code"] in wire.ERROR_CODES
            assert 0 < len(msg["message"]) <= wire.MAX_ERROR_TEXT
            assert msg["code"] != "internal", f"the server failed on hostile input: {msg}"


def until_ack(ws, seq: int, timeout: float = 15.0) -> list[dict]:
    """Server messages up to the ack of `seq` (which must come)."""
    got = []
    deadline = time.monotonic() + timeout
    while True:
        msg = wire.decode(ws.recv(timeout=max(0.01, deadline - time.monotonic())), sender="server")
        got.append(msg)
        if msg["type"] == "ack" and msg["seq"] >= seq:
            return got


def next_of(ws, *kinds: str, timeout: float = 15.0) -> dict:
    """The next server message of one of `kinds` (plans, sent as roles change, are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        msg = wire.decode(ws.recv(timeout=max(0.01, deadline - time.monotonic())), sender="server")
        if msg["type"] in kinds:
            return msg
        assert msg["type"] == "plan", msg


# --- before authentication --------------------------------------------------------------


def test_garbage_before_authentication_is_refused_with_an_error_and_a_close(server, neighbour):
    @SETTINGS
    @given(first=frames)
    def attack(first):
        with open_from(server, next_address()) as ws:
            send(ws, first)
            got = answers(ws)
            code, reason = close_code(ws, 1)
        assert_clear_errors(got)
        if got and got[0]["type"] == "challenge":  # the fuzzer wrote a valid hello: fine
            return
        assert [m["type"] for m in got] == ["error"], got
        assert got[0]["code"] in ("bad_json", "too_large", "schema", "auth_failed", "version")
        assert code == 1008 and reason == got[0]["code"]

    attack()


def test_unauthenticated_and_forged_hellos_are_refused(server, neighbour):
    who, thief = identity(), identity()
    snapshot = wire.snapshot("s", 1, 1.0, 1.0, {"game": {"running": True}})
    hello = wire.hello(who.public_key, "x")
    cases = {
        "data before hello": [snapshot],
        "auth before hello": [wire.auth(b"\0" * 64)],
        "data instead of auth": [hello, snapshot],
        "hello twice": [hello, hello],
        "a key that is not 32 bytes": [{**hello, "public_key": wire.b64(b"k" * 31)}],
        "non-canonical base64": [{**hello, "public_key": wire.b64(who.public_key)[:42] + "B="}],
        "another key's signature": ["sign-with-thief"],
        "a zero signature": [hello, wire.auth(b"\0" * 64)],
    }
    for name, messages in cases.items():
        with open_from(server, next_address()) as ws:
            got: list[dict] = []
            for msg in messages:
                if msg == "sign-with-thief":
                    ws.send(wire.encode(hello).decode())
                    challenge = wire.decode(ws.recv(timeout=10), sender="server")
                    nonce = wire.unb64(challenge["nonce"], wire.NONCE_BYTES)
                    signed = wire.auth_message(nonce, challenge["server"], who.public_key)
                    msg = wire.auth(thief.sign(signed))
                ws.send(wire.encode(msg).decode())
            got = answers(ws)
            code, _ = close_code(ws, 1)
        errors = [m for m in got if m["type"] == "error"]
        assert len(errors) == 1 and code == 1008, (name, got, code)
        assert errors[0]["code"] in ("auth_failed", "schema"), (name, errors)
        assert not any(m["type"] == "welcome" for m in got), name


def test_a_replayed_challenge_answer_is_refused_on_another_connection(server, neighbour):
    """An eavesdropper who captured a client's whole handshake replays its auth frame: the
    nonce is per connection, so the captured signature is worthless."""
    who = identity()
    first = open_from(server, next_address())
    hello = wire.encode(wire.hello(who.public_key, "victim", "victim")).decode()
    first.send(hello)
    challenge = wire.decode(first.recv(timeout=10), sender="server")
    nonce = wire.unb64(challenge["nonce"], wire.NONCE_BYTES)
    captured = wire.encode(
        wire.auth(who.sign(wire.auth_message(nonce, challenge["server"], who.public_key)))
    ).decode()
    first.send(captured)
    assert wire.decode(first.recv(timeout=10), sender="server")["type"] == "welcome"
    with open_from(server, next_address()) as thief:
        thief.send(hello)  # the same hello bytes...
        second = wire.decode(thief.recv(timeout=10), sender="server")
        assert second["type"] == "challenge" and second["nonce"] != challenge["nonce"]
        thief.send(captured)  # ...and the captured answer
        got = answers(thief)
        code, reason = close_code(thief, 1)
    assert [(m["type"], m["code"]) for m in got] == [("error", "auth_failed")]
    assert "challenge" in got[0]["message"] and (code, reason) == (1008, "auth_failed")
    # the victim's own connection was not replaced by the failed attempt
    first.send(wire.encode(wire.snapshot("v", 1, 1.0, 1.0, {"game": {"running": False}})).decode())
    assert until_ack(first, 1)[-1] == wire.ack("v", 1)
    first.close()


# --- after authentication ---------------------------------------------------------------


def test_garbage_after_authentication_gets_errors_and_the_stream_goes_on(server, neighbour):
    @SETTINGS
    @given(batch=st.lists(frames, min_size=1, max_size=6))
    def attack(batch):
        with open_from(server, next_address()) as ws:
            assert handshake(ws, identity())["type"] == "welcome"
            for frame in batch:
                send(ws, frame)
            probe = wire.snapshot("s", PROBE_SEQ, 1.0, time.time(), {"game": {"running": False}})
            ws.send(wire.encode(probe).decode())
            got = until_ack(ws, PROBE_SEQ)
        assert_clear_errors(got)
        assert sum(m["type"] == "error" for m in got) <= len(batch)
        assert got[-1] == wire.ack("s", PROBE_SEQ)

    attack()


def test_huge_frames_and_deep_nesting(server, neighbour):
    limit = server.config.max_message_bytes
    head = '{"type":"patch","stream":"s","seq":2,"base":1,"et":1.0,"sent_at":1.0,"patch":'
    cases = [
        ("too_large", "text", '{"type":"snapshot","pad":"' + "x" * (2 * limit) + '"}'),
        ("too_large", "binary", b"[" * (limit + 1)),
        ("bad_json", "text", "[" * 100_000 + "]" * 100_000),  # 100k nested lists
        ("bad_json", "text", head + '{"a":' * 100_000 + "1" + "}" * 100_001),
        ("too_large", "text", head + '{"a":' * 70 + "1" + "}" * 71),  # over MAX_DEPTH
        ("too_large", "text", head + "[" * 70 + "]" * 70 + "}"),
    ]
    with open_from(server, next_address()) as ws:
        assert handshake(ws, identity())["type"] == "welcome"
        ws.send(wire.encode(wire.snapshot("s", 1, 1.0, 1.0, {"cars": {}})).decode())
        until_ack(ws, 1)
        for want, kind, data in cases:
            started = time.monotonic()
            send(ws, (kind, data))
            msg = next_of(ws, "error")
            assert msg["code"] == want, (want, msg)
            assert len(msg["message"]) <= wire.MAX_ERROR_TEXT
            assert time.monotonic() - started < 5, "a hostile frame took long to refuse"
        ws.send(wire.encode(wire.patch("s", 2, 2.0, 2.0, {"cars": {"1-x": 1}})).decode())
        assert until_ack(ws, 2)[-1] == wire.ack("s", 2)  # the stream is intact
    # over the transport's limit (4x the message limit): the socket is closed, 1009
    with open_from(server, next_address()) as ws:
        assert handshake(ws, identity())["type"] == "welcome"
        with contextlib.suppress(Exception):
            ws.send("x" * (4 * limit + 1))
        code, _ = close_code(ws)
    assert code == 1009


def test_sequence_gaps_replays_and_ghost_cars_through_the_real_tracker(server, neighbour):
    def snap(seq, state):
        return wire.snapshot("g", seq, float(seq), time.time(), state)

    def patch(seq, change):
        return wire.patch("g", seq, float(seq), time.time(), change)

    base = {"game": {"running": True}, "cars": {}}
    ghost = {"cars": {"99-ghost": {"position": "first", "lapsCompleted": -5, "ws": [1, 2]}}}
    with open_from(server, next_address()) as ws:
        assert handshake(ws, identity())["type"] == "welcome"
        script = [
            (snap(1, base), wire.ack("g", 1)),
            (patch(2, ghost), wire.ack("g", 2)),  # a car nobody announced, with junk fields
            (patch(2, ghost), wire.ack("g", 2)),  # replayed patch: acked again, applied once
            (snap(1, base), wire.ack("g", 2)),  # replayed snapshot: the same
            (patch(5, {"x": 1}), wire.resync("g", "seq 5 does not follow 2: send a snapshot")),
            (patch(6, {"x": 2}), None),  # waiting for a snapshot: nothing until it comes
            (snap(7, base), wire.ack("g", 7)),
            (patch(8, {"cars": {"99-ghost": None, "98-ghost": {"slotID": "?"}}}), wire.ack("g", 8)),
        ]
        for msg, want in script:
            ws.send(wire.encode(msg).decode())
            if want is not None:
                got = next_of(ws, "ack", "resync", "error")
                assert got == want, (msg, got)


# --- floods -----------------------------------------------------------------------------


def test_a_flood_of_connections_from_one_address_is_limited_there_only(server, neighbour):
    config = server.config
    flood = next_address()
    held = [open_from(server, flood) for _ in range(config.max_pending_handshakes)]
    try:
        refused = [open_from(server, flood) for _ in range(3)]
        for ws in refused:
            code, reason = close_code(ws)
            assert code == 1013 and "too many unauthenticated connections" in reason, reason
            assert flood in reason
        # another address is not limited by that flood
        with open_from(server, next_address()) as ws:
            assert handshake(ws, identity())["type"] == "welcome"
    finally:
        for ws in held:
            ws.close()
    time.sleep(0.3)  # the server sees them go
    with open_from(server, flood) as ws:  # pending ones gone: the address may try again
        assert handshake(ws, identity())["type"] == "welcome"
    # a burst of new connections (each authenticating at once) runs out of tokens
    burst = next_address()
    outcomes = []
    for _ in range(config.handshake_burst + 5):
        with open_from(server, burst) as ws:
            try:
                outcomes.append(handshake(ws, identity())["type"])
            except Exception:
                outcomes.append(close_code(ws))
    accepted = outcomes.count("welcome")
    assert config.handshake_burst <= accepted < config.handshake_burst + 5, outcomes
    refusal = next(o for o in outcomes if o != "welcome")
    assert refusal[0] == 1013 and "too many new connections" in refusal[1]
    time.sleep(1.5 / config.handshake_rate)  # tokens come back at handshake_rate per second
    with open_from(server, burst) as ws:
        assert handshake(ws, identity())["type"] == "welcome"


def test_a_throttled_real_client_says_why_retries_and_gets_in(tmp_path):
    """The real Uplink treats the limit's 1013 close as temporary: it reports the reason and
    connects once the address has a free handshake slot again."""
    server = LiveServer(tmp_path, neighbour=False, max_pending_handshakes=1).start()
    seen = []
    try:
        squatter = open_from(server, "127.0.0.1")  # holds the one slot of 127.0.0.1

        async def scenario():
            uplink = Uplink(server.ws_url, identity(), client_version="0.1", on_status=seen.append)
            task = asyncio.create_task(uplink.run())
            deadline = time.monotonic() + 10
            while not any(s.error and "1013" in s.error for s in seen):
                assert time.monotonic() < deadline, [s.error for s in seen]
                await asyncio.sleep(0.05)
            squatter.close()
            while uplink.status.state != "connected":
                assert time.monotonic() < deadline + 20, uplink.status
                await asyncio.sleep(0.05)
            await uplink.close()
            await asyncio.wait_for(task, 5)

        asyncio.run(scenario())
    finally:
        server.stop()
    error = next(s.error for s in seen if s.error and "1013" in s.error)
    assert "too many unauthenticated connections from 127.0.0.1" in error
    assert not any(s.state == "rejected" for s in seen)


def test_a_flood_of_bad_messages_closes_only_that_client(server, neighbour):
    with open_from(server, next_address()) as ws:
        assert handshake(ws, identity())["type"] == "welcome"
        for _ in range(ERROR_LIMIT):  # the server closes after the last of these
            ws.send("{garbage")
        errors = answers(ws)
        code, reason = close_code(ws)
    assert [m["code"] for m in errors] == ["bad_json"] * ERROR_LIMIT
    assert (code, reason) == (1008, "too many bad messages")


def test_a_flood_of_fresh_keys_does_not_fill_the_memory_with_stream_states(server, neighbour):
    """Stream states wait for a gone client's return, but only for the most recent ones."""
    state = {"game": {"running": False}, "pad": "x" * 200_000}
    for _ in range(KEEP_GONE + 20):
        with open_from(server, next_address()) as ws:
            assert handshake(ws, identity())["type"] == "welcome"
            ws.send(wire.encode(wire.snapshot("s", 1, 1.0, time.time(), state)).decode())
            until_ack(ws, 1)
    time.sleep(0.3)  # the server sees the last one go

    async def kept() -> tuple[int, int, int]:
        ingest = server.app.state.ingest
        return len(ingest.streams), len(ingest.links), len(ingest.gone)

    streams, links, gone = server.call(kept())
    assert gone == KEEP_GONE and streams <= KEEP_GONE + links, (streams, links, gone)


# --- the viewers' websocket -------------------------------------------------------------


def test_garbage_on_a_viewer_websocket(server, neighbour):
    if not any(getattr(r, "path", None) == "/ws/view" for r in server.app.router.routes):
        pytest.skip("/ws/view is not wired into the app yet")
    good = f"/ws/view?view=session&session={neighbour}"
    for bad_query in ("/ws/view", "/ws/view?view=nope&session=x", f"{good[:-3]}zzz%00",
                      "/ws/view?view=car&session=" + "9" * 5000):  # fmt: skip
        with open_from(server, next_address(), bad_query) as ws:
            code, reason = close_code(ws)
        assert code == 1008 and reason, (bad_query, code)
    with open_from(server, next_address(), good) as ws:
        first = ws.recv(timeout=10)  # the full refresh
        assert "hx-swap-oob" in first
        for i in range(99):
            ws.send(b"\x00\xff" * 10 if i % 2 else "<script>alert(1)</script>")
        ws.send('{"HEADERS": {"HX-Request": "true"}, "x": 1}')  # what htmx sends: ignored
        ws.send("x")  # the 100th piece of garbage
        code, reason = close_code(ws)
    assert code == 1003 and "unexpected" in reason
    with open_from(server, next_address(), good) as ws:
        ws.recv(timeout=10)
        with contextlib.suppress(Exception):
            ws.send("x" * (4 * server.config.max_message_bytes + 1))
        code, _ = close_code(ws)
    assert code == 1009
