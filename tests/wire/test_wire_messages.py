"""Wire messages: every type validates, bad frames get the right error code, auth bytes."""

from __future__ import annotations

import hashlib
import json
import os
import time
from importlib import resources

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from schema import wire
from schema.wire import WireError, decode, encode

KEY = bytes(range(32))
NONCE = bytes(range(100, 132))
SIG = bytes(range(64))
STAMP = 17730571110904992  # a chat timestamp, beyond 2**53


def examples() -> dict[str, dict]:
    """One valid message of every type, built fresh for each use."""
    return {
        "hello": wire.hello(KEY, "0.1.0", name="Bradley Drake"),
        "auth": wire.auth(SIG),
        "snapshot": wire.snapshot(
            "019d4a8b:0",
            1,
            1234.5,
            1774000000.25,
            {"chat": {f"{STAMP}-0": {"message": "F Riley: Lorem", "timestamp": STAMP}}},
        ),
        "patch": wire.patch("019d4a8b:0", 2, 1235.5, 1774000001.25, {"cars": {"0-A": None}}),
        "backfill": wire.backfill("019d4a8b:0", 3, 1236.0, {"0": [{"lapTime": -1.0}]}),
        "bye": wire.bye("game closed"),
        "challenge": wire.challenge(NONCE, "lmust-server-1"),
        "welcome": wire.welcome(wire.client_id(KEY), {"019d4a8b:0": 2, "other": 0}),
        "ack": wire.ack("019d4a8b:0", 2),
        "resync": wire.resync("019d4a8b:0", "patch base 7 unknown"),
        "plan": wire.plan(
            {"/rest/chat/": False, "ws:LiveStandings": True}, intervals={"/rest/chat/": 5}
        ),
        "error": wire.error("bad_seq", "seq 5 after 2", stream="019d4a8b:0", seq=5),
    }


def frame(msg: dict) -> bytes:
    return orjson.dumps(msg)


def test_every_message_type_has_an_example_and_a_schema():
    assert set(examples()) == wire.MESSAGE_TYPES == set(wire.validators())
    assert wire.CLIENT_TYPES.isdisjoint(wire.SERVER_TYPES)


@pytest.mark.parametrize("kind", sorted(wire.MESSAGE_TYPES))
def test_valid_examples_round_trip(kind):
    msg = examples()[kind]
    wire.validate(msg)
    assert decode(encode(msg)) == msg
    assert decode(encode(msg).decode("utf-8")) == msg  # text frames too
    sender = "client" if kind in wire.CLIENT_TYPES else "server"
    assert decode(encode(msg), sender=sender) == msg


def test_optional_fields_may_be_left_out():
    hello = wire.hello(KEY, "0.1.0")
    assert "name" not in hello
    wire.validate(hello)
    wire.validate(wire.error("internal", "oops"))
    wire.validate(wire.plan({}))


def test_schema_files_are_strict_draft_2020_12():
    folder = resources.files("schema").joinpath("wire")
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".json"))
    assert names == sorted([f"{t}.json" for t in wire.MESSAGE_TYPES] + ["common.json"])
    for name in names:
        doc = json.loads(folder.joinpath(name).read_text(encoding="utf-8"))
        assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        if name != "common.json":
            assert doc["additionalProperties"] is False, name
            assert doc["properties"]["type"] == {"const": name[:-5]}
            assert "type" in doc["required"]


def test_big_integers_are_exact_on_the_wire():
    msg = examples()["snapshot"]
    got = decode(encode(msg))["state"]["chat"][f"{STAMP}-0"]["timestamp"]
    assert got == STAMP and type(got) is int


# --- refusals -------------------------------------------------------------------------------


def with_(kind: str, **changes) -> bytes:
    msg = examples()[kind]
    for key, value in changes.items():
        if value is ...:
            del msg[key]
        else:
            msg[key] = value
    return frame(msg)


def nested(depth: int) -> dict:
    """A snapshot whose outermost object is depth 1 and whose deepest container is `depth`."""
    inner: dict = {}
    for _ in range(depth - 2):
        inner = {"n": inner}
    msg = examples()["snapshot"]
    msg["state"] = inner
    return msg


BAD = {
    "not json": (b'{"type": "ack",', "bad_json"),
    "not utf-8": (b'{"type": "bye", "reason": "\xff\xfe"}', "bad_json"),
    "NaN": (b'{"type": "snapshot", "et": NaN}', "bad_json"),
    "empty": (b"", "bad_json"),
    "array": (b"[1, 2]", "schema"),
    "string": (b'"hello"', "schema"),
    "no type": (b'{"stream": "a", "seq": 1}', "schema"),
    "unknown type": (b'{"type": "query"}', "schema"),
    "type not a string": (b'{"type": 1}', "schema"),
    "extra field": (with_("ack", extra=1), "schema"),
    "missing field": (with_("snapshot", state=...), "schema"),
    "seq 0": (with_("ack", seq=0), "schema"),
    "seq not int": (with_("ack", seq=1.5), "schema"),
    "seq bool": (with_("ack", seq=True), "schema"),
    "stream too long": (with_("ack", stream="s" * 65), "schema"),
    "stream empty": (with_("ack", stream=""), "schema"),
    "et below -1": (with_("snapshot", et=-2), "schema"),
    "state not object": (with_("snapshot", state=[1]), "schema"),
    "patch not object": (with_("patch", patch=None), "schema"),
    "key too short": (with_("hello", public_key=wire.b64(KEY[:31])), "schema"),
    "key not canonical": (with_("hello", public_key=wire.b64(KEY)[:-2] + "B="), "schema"),
    "signature of 32 bytes": (with_("auth", signature=wire.b64(KEY)), "schema"),
    "name too long": (with_("hello", name="x" * 65), "schema"),
    "bad error code": (with_("error", code="teapot"), "schema"),
    "welcome bad client id": (with_("welcome", client_id="ABC"), "schema"),
    "welcome negative seq": (with_("welcome", streams={"a": -1}), "schema"),
    "plan bad endpoint": (with_("plan", fetch={"chat": True}), "schema"),
    "plan non-bool": (with_("plan", fetch={"/rest/chat/": 1}), "schema"),
    "protocol 2": (with_("hello", protocol=2), "version"),
    "base not seq-1": (with_("patch", seq=5, base=3), "bad_seq"),
    "patch seq 1": (with_("patch", seq=1, base=0), "schema"),
    "depth 65": (frame(nested(65)), "too_large"),
    "oversized": (b'{"type": "bye", "reason": "' + b"x" * 2000 + b'"}', "too_large"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_frames_get_the_right_code(case):
    data, code = BAD[case]
    with pytest.raises(WireError) as err:
        decode(data, max_bytes=1000)
    assert err.value.code == code, err.value.message
    assert len(err.value.message) <= wire.MAX_ERROR_TEXT
    wire.validate(err.value.to_message())  # always reportable as an `error` message


def test_depth_64_is_fine():
    msg = nested(64)
    assert decode(frame(msg)) == msg


def test_schema_error_names_the_field_path():
    msg = examples()["snapshot"]
    msg["seq"] = "7"
    with pytest.raises(WireError) as err:
        decode(frame(msg))
    assert err.value.message.startswith("/seq:")
    assert "integer" in err.value.message
    msg = examples()["welcome"]
    msg["streams"]["ok"] = "x"
    with pytest.raises(WireError) as err:
        decode(frame(msg))
    assert err.value.message.startswith("/streams/ok:")


def test_refusal_points_at_the_stream_and_seq():
    with pytest.raises(WireError) as err:
        decode(with_("patch", seq=9, base=4))
    assert (err.value.stream, err.value.seq) == ("019d4a8b:0", 9)
    assert err.value.to_message() == {
        "type": "error",
        "code": "bad_seq",
        "message": err.value.message,
        "stream": "019d4a8b:0",
        "seq": 9,
    }


def test_direction_is_enforced():
    with pytest.raises(WireError) as err:
        decode(frame(examples()["ack"]), sender="client")
    assert err.value.code == "schema" and "from a client" in err.value.message
    with pytest.raises(WireError):
        decode(frame(examples()["patch"]), sender="server")


def test_error_messages_never_echo_big_input():
    data = frame({"type": "bye", "reason": "y" * 900_000})
    with pytest.raises(WireError) as err:
        decode(data)
    assert err.value.code == "schema"
    assert len(err.value.message) <= wire.MAX_ERROR_TEXT
    with pytest.raises(WireError) as err:
        decode(b'{"type": "' + b"q" * 500_000 + b'"}')
    assert len(err.value.message) <= wire.MAX_ERROR_TEXT


@pytest.mark.parametrize("as_text", [False, True])
def test_5_mb_frame_fails_fast_without_parsing(as_text):
    body = b'{"type": "snapshot", "state": [' + b"[" * 5_000_000 + b"]}"  # would not even parse
    data = body.decode("ascii") if as_text else body
    start = time.perf_counter()
    with pytest.raises(WireError) as err:
        decode(data)
    elapsed = time.perf_counter() - start
    assert err.value.code == "too_large"
    assert elapsed < 0.05


def test_size_limit_counts_utf8_bytes_of_text():
    text = '{"type": "bye", "reason": "' + "é" * 600 + '"}'  # 600 chars, 1200 bytes
    assert len(text) < 1000
    with pytest.raises(WireError) as err:
        decode(text, max_bytes=1000)
    assert err.value.code == "too_large"


def test_wire_error_rejects_unknown_codes():
    with pytest.raises(ValueError):
        WireError("nope", "x")


# --- authentication -------------------------------------------------------------------------


def keypair() -> tuple[Ed25519PrivateKey, bytes]:
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return private, public


def test_auth_message_layout():
    msg = wire.auth_message(NONCE, "srv", KEY)
    assert msg == wire.AUTH_CONTEXT + b"\x00" + b"\x03srv" + NONCE + KEY
    assert wire.AUTH_CONTEXT == b"lmust-auth-v1"
    # length prefix: a different split of the same characters gives different bytes
    assert wire.auth_message(NONCE, "srv", KEY) != wire.auth_message(NONCE, "sr", KEY)


@pytest.mark.parametrize(
    ("nonce", "server", "key"),
    [(NONCE[:31], "s", KEY), (NONCE, "s", KEY + b"x"), (NONCE, "", KEY), (NONCE, "s" * 256, KEY)],
)
def test_auth_message_refuses_bad_parts(nonce, server, key):
    with pytest.raises(ValueError):
        wire.auth_message(nonce, server, key)


def test_signed_challenge_verifies_only_for_its_nonce_server_and_key():
    private, public = keypair()
    nonce = os.urandom(32)
    signature = private.sign(wire.auth_message(nonce, "lmust-server-1", public))

    # the whole exchange goes over the wire as messages
    hello = decode(encode(wire.hello(public, "0.1.0")), sender="client")
    challenge = decode(encode(wire.challenge(nonce, "lmust-server-1")), sender="server")
    answer = decode(encode(wire.auth(signature)), sender="client")
    key = wire.unb64(hello["public_key"], 32)
    sig = wire.unb64(answer["signature"], 64)
    got_nonce = wire.unb64(challenge["nonce"], 32)
    assert wire.verify_auth(key, sig, got_nonce, challenge["server"])

    assert not wire.verify_auth(key, sig, os.urandom(32), "lmust-server-1")  # replayed answer
    assert not wire.verify_auth(key, sig, nonce, "lmust-server-2")  # relayed to another server
    _, other = keypair()
    assert not wire.verify_auth(other, sig, nonce, "lmust-server-1")  # someone else's key
    assert not wire.verify_auth(key, sig[:-1] + bytes([sig[-1] ^ 1]), nonce, "lmust-server-1")
    assert not wire.verify_auth(b"\x00" * 31, sig, nonce, "lmust-server-1")  # malformed key


def test_client_id_is_the_sha256_prefix_of_the_raw_key():
    _, public = keypair()
    cid = wire.client_id(public)
    assert cid == hashlib.sha256(public).hexdigest()[:32]
    assert len(cid) == 32 and cid == cid.lower()
    assert wire.client_id(public) == cid
    assert wire.client_id(KEY) != cid
    wire.validate(wire.welcome(cid, {}))
    with pytest.raises(ValueError):
        wire.client_id(public[:16])


def test_unb64_wants_canonical_exact_sizes():
    assert wire.unb64(wire.b64(SIG), 64) == SIG
    for text in (wire.b64(SIG), "not base64!", wire.b64(KEY)[:-2] + "B=", "é", ""):
        with pytest.raises(WireError):
            wire.unb64(text, 32)


def test_validate_refuses_non_messages():
    for msg in ([], {"type": {"x": 1}}, {"type": "nope"}, {}):
        with pytest.raises(WireError):
            wire.validate(msg)
    with pytest.raises(ValueError):
        decode(frame(examples()["ack"]), sender="browser")
