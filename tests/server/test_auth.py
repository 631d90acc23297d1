"""Who may stream: the real Uplink against a real server, and hand-made handshakes that cheat."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat

import pytest
from server_harness import RunningServer, race_states, raw_client, run, until
from websockets.asyncio.client import connect

from client.identity import Identity, IdentityError
from client.uplink import Uplink
from schema import wire


@pytest.fixture
def identity(tmp_path) -> Identity:
    return Identity.load_or_create(tmp_path / "keys" / "client.key")


def test_identity_is_created_once_private_and_reloaded(tmp_path):
    path = tmp_path / "new" / "dir" / "client.key"
    first = Identity.load_or_create(path)
    again = Identity.load_or_create(path)
    assert first.client_id == again.client_id == wire.client_id(first.public_key)
    assert len(first.public_key) == 32 and path.read_text().startswith("-----BEGIN PRIVATE KEY")
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    nonce = os.urandom(32)
    sig = first.sign(wire.auth_message(nonce, "srv", first.public_key))
    assert wire.verify_auth(again.public_key, sig, nonce, "srv")


def test_a_corrupt_key_file_says_what_to_do(tmp_path):
    path = tmp_path / "client.key"
    path.write_text("not a key")
    with pytest.raises(IdentityError) as err:
        Identity.load_or_create(path)
    text = str(err.value)
    assert str(path) in text and "delete it to create a new identity" in text and "\n" not in text


def test_uplink_authenticates_and_streams_the_exact_state(tmp_path, identity):
    states = race_states()[:12]
    seen = []

    async def scenario():
        async with RunningServer(tmp_path) as server:
            uplink = Uplink(
                server.url, identity, client_version="0.1.0", name="Anna", on_status=seen.append
            )
            task = asyncio.create_task(uplink.run())
            for i, state in enumerate(states):
                uplink.publish(state, 30.0 + 20 * i)
            await until(lambda: uplink.status.acked == len(states), what="all acks")
            status = uplink.status
            await uplink.close()
            await asyncio.wait_for(task, 5)
            return server.feed, status, uplink

    feed, status, uplink = run(scenario())
    assert feed.seqs(uplink.stream_id) == list(range(1, len(states) + 1))
    assert feed.state(uplink.stream_id) == states[-1]
    assert [o.kind for o in feed.seen][:2] == ["snapshot", "patch"]
    first = feed.seen[0].client
    assert first.name == "Anna" and first.client_id == identity.client_id
    assert status.state == "connected" and status.role == "primary" and status.pending == 0
    assert uplink.plan["fetch"] == {
        "/rest/chat/": True,
        "/rest/strategy/overall": True,
        "/rest/strategy/usage": True,
    }
    assert seen[0].state == "connecting" and seen[-1].state == "closed"
    assert any(s.state == "connected" for s in seen)
    with sqlite3.connect(tmp_path / "data" / "lmust.db") as db:
        assert db.execute("SELECT name FROM clients").fetchall() == [("Anna",)]
        assert db.execute("SELECT stream, last_seq FROM streams").fetchall() == [
            (uplink.stream_id, len(states))
        ]


def test_a_forged_signature_is_refused(tmp_path, identity):
    other = Identity.load_or_create(tmp_path / "other.key")

    async def scenario():
        async with RunningServer(tmp_path) as server:
            ws, answer = await raw_client(server.url, identity, signer=other)
            await ws.wait_closed()
            return answer, ws.close_code

    answer, code = run(scenario())
    assert answer["type"] == "error" and answer["code"] == "auth_failed"
    assert code == 1008


def test_an_auth_answer_replayed_on_another_connection_is_refused(tmp_path, identity):
    async def scenario():
        async with RunningServer(tmp_path) as server:
            first = await raw_client(server.url, identity)  # a good, accepted answer...
            assert first[1]["type"] == "welcome"
            # ...an eavesdropper resends the same bytes on its own connection
            ws = await asyncio.wait_for(connect(server.url), 5)
            await ws.send(wire.encode(wire.hello(identity.public_key, "x")), text=True)
            challenge = wire.decode(await ws.recv(), sender="server")
            old_nonce = os.urandom(32)  # stands for the first connection's nonce
            sig = identity.sign(
                wire.auth_message(old_nonce, challenge["server"], identity.public_key)
            )
            await ws.send(wire.encode(wire.auth(sig)), text=True)
            answer = wire.decode(await ws.recv(), sender="server")
            await ws.wait_closed()
            await first[0].close()
            return answer, ws.close_code

    answer, code = run(scenario())
    assert (answer["type"], answer["code"], code) == ("error", "auth_failed", 1008)


def test_a_key_not_on_the_allow_list_is_refused_and_the_uplink_stops(tmp_path, identity):
    listed = Identity.load_or_create(tmp_path / "listed.key")
    seen = []

    async def scenario():
        async with RunningServer(tmp_path, allow_list=(listed.client_id,)) as server:
            _, raw_answer = await raw_client(server.url, identity)
            uplink = Uplink(server.url, identity, client_version="0.1.0", on_status=seen.append)
            await asyncio.wait_for(uplink.run(), 5)  # returns by itself: the refusal is final
            welcome = await raw_client(server.url, listed)
            await welcome[0].close()
            return raw_answer, uplink.status, welcome[1]

    answer, status, welcome = run(scenario())
    assert answer["code"] == "forbidden" and identity.client_id in answer["message"]
    assert status.state == "rejected"
    assert identity.client_id in status.error and "allow-list" in status.error
    assert "\n" not in status.error
    assert welcome["type"] == "welcome"  # the listed key gets in
    assert [s.state for s in seen].count("rejected") == 1


def test_a_wrong_protocol_version_is_refused(tmp_path, identity):
    class FutureUplink(Uplink):
        protocol = 2

    async def scenario():
        async with RunningServer(tmp_path) as server:
            _, raw_answer = await raw_client(server.url, identity, protocol=2)
            uplink = FutureUplink(server.url, identity, client_version="9.0")
            await asyncio.wait_for(uplink.run(), 5)
            return raw_answer, uplink.status

    answer, status = run(scenario())
    assert answer["type"] == "error" and answer["code"] == "version"
    assert status.state == "rejected" and "update the client" in status.error


def test_a_silent_connection_is_closed_after_the_handshake_timeout(tmp_path):
    async def scenario():
        async with RunningServer(tmp_path, handshake_timeout=0.5) as server:
            ws = await connect(server.url)
            answer = wire.decode(await asyncio.wait_for(ws.recv(), 3), sender="server")
            await asyncio.wait_for(ws.wait_closed(), 3)
            return answer, ws.close_code

    answer, code = run(scenario())
    assert answer["code"] == "auth_failed" and code == 1008


def test_an_unreachable_server_is_retried_and_reported(tmp_path, identity):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    seen = []

    async def scenario():
        url = f"ws://127.0.0.1:{port}"
        uplink = Uplink(url, identity, client_version="0.1", on_status=seen.append)
        task = asyncio.create_task(uplink.run())
        await until(lambda: sum(s.state == "reconnecting" for s in seen) >= 2, what="retries")
        await uplink.close()
        await asyncio.wait_for(task, 5)

    run(scenario())
    errors = [s.error for s in seen if s.error]
    assert errors and "refuses connections" in errors[0] and str(port) in errors[0]
    assert all(s.reconnect_in is None or 0 < s.reconnect_in <= 30 for s in seen)
    assert seen[-1].state == "closed"
