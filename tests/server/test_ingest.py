"""Streaming through a real server: bad input, cut connections, restarts, roles."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from server_harness import (
    CutProxy,
    RunningServer,
    next_message,
    race_states,
    raw_client,
    run,
    until,
)

from client.identity import Identity
from client.uplink import Uplink
from schema import wire


@pytest.fixture
def identity(tmp_path) -> Identity:
    return Identity.load_or_create(tmp_path / "a.key")


@pytest.fixture
def other(tmp_path) -> Identity:
    return Identity.load_or_create(tmp_path / "b.key")


LIMIT = wire.MAX_MESSAGE_BYTES  # the server's default max_message_bytes


def canonical(state: dict) -> bytes:
    return orjson.dumps(state, option=orjson.OPT_SORT_KEYS)


def nested(depth: int) -> dict:
    doc: dict = {}
    for _ in range(depth):
        doc = {"x": doc}
    return doc


def test_bad_messages_get_error_frames_and_nothing_else_breaks(tmp_path, identity, other):
    states = race_states()[:6]

    async def scenario():
        async with RunningServer(tmp_path) as server:
            neighbour = Uplink(server.url, other, client_version="0.1", name="Neighbour")
            task = asyncio.create_task(neighbour.run())
            ws, welcome = await raw_client(server.url, identity)
            assert welcome["type"] == "welcome"
            good = wire.snapshot("s1", 1, 10.0, 1.0, {"game": {"running": True}})
            await ws.send(wire.encode(good), text=True)
            assert await next_message(ws, "ack") == wire.ack("s1", 1)
            bad = [
                ("bad_json", b"{not json"),
                ("too_large", b'{"type": "snapshot", "pad": "' + b"x" * LIMIT + b'"}'),
                ("too_large", orjson.dumps(wire.patch("s1", 2, 1.0, 1.0, nested(80)))),
                ("schema", orjson.dumps({"type": "teleport", "stream": "s1", "seq": 2})),
                ("schema", orjson.dumps({"type": "patch", "stream": "s1", "seq": 2})),
                ("bad_seq", orjson.dumps({**wire.patch("s1", 2, 1.0, 1.0, {}), "base": 7})),
            ]
            codes = []
            for i, (_, data) in enumerate(bad):
                await ws.send(data, text=True)
                msg = await next_message(ws, "error")
                codes.append((msg["code"], msg.get("seq")))
                if i % 2:  # the neighbour streams while this client misbehaves
                    neighbour.publish(states[i], float(i))
            # still connected, and the stream's state is untouched by what was refused
            patch = wire.patch("s1", 2, 11.0, 2.0, {"game": {"screen": "SETTING_MONITOR"}})
            await ws.send(wire.encode(patch), text=True)
            assert await next_message(ws, "ack") == wire.ack("s1", 2)
            for i, state in enumerate(states):
                neighbour.publish(state, float(i))
            await until(lambda: neighbour.status.pending == 0, what="neighbour's acks")
            await ws.close()
            await neighbour.close()
            await asyncio.wait_for(task, 5)
            return [code for code, _ in bad], codes, server.feed, neighbour.stream_id

    expected, codes, feed, neighbour_stream = run(scenario())
    assert [code for code, _ in codes] == expected
    assert codes[-1] == ("bad_seq", 2)  # the error points at the refused message
    assert feed.state("s1") == {"game": {"running": True, "screen": "SETTING_MONITOR"}}
    assert feed.seqs("s1") == [1, 2]
    assert canonical(feed.state(neighbour_stream)) == canonical(states[-1])


def test_a_flood_of_bad_messages_closes_the_connection(tmp_path, identity):
    async def scenario():
        async with RunningServer(tmp_path) as server:
            ws, _ = await raw_client(server.url, identity)
            errors = 0
            for _ in range(25):
                try:
                    await ws.send("[]", text=True)
                    await next_message(ws, "error", timeout=2)
                    errors += 1
                except Exception:
                    break
            await asyncio.wait_for(ws.wait_closed(), 3)
            return errors, ws.close_code

    errors, code = run(scenario())
    assert errors == 20 and code == 1008


def test_a_cut_connection_loses_and_duplicates_nothing(tmp_path, identity):
    states = race_states()

    async def scenario():
        async with RunningServer(tmp_path) as server, CutProxy(server.port) as proxy:
            uplink = Uplink(proxy.url(), identity, client_version="0.1")
            task = asyncio.create_task(uplink.run())
            await until(lambda: uplink.status.state == "connected", what="connected")
            for i, state in enumerate(states):
                uplink.publish(state, 30.0 + 20 * i)
                await asyncio.sleep(0.01)
                if i in (8, 9, 20, 31):  # cut mid-stream, twice in a row once
                    proxy.cut()
            await until(lambda: uplink.status.state == "connected", timeout=10, what="back")
            await until(lambda: uplink.status.pending == 0, timeout=10, what="all acked")
            await uplink.close()
            await asyncio.wait_for(task, 5)
            return server.feed, uplink

    feed, uplink = run(scenario(), timeout=30)
    seqs = feed.seqs(uplink.stream_id)
    assert seqs == list(range(1, uplink.status.acked + 1))  # 1..N, none twice, none skipped
    assert uplink.status.acked >= len(states)  # every state, plus a snapshot per reconnect
    assert canonical(feed.state(uplink.stream_id)) == canonical(states[-1])
    assert sum(o.kind == "snapshot" for o in feed.seen) >= 2


def test_a_server_restart_resumes_from_the_acked_seq(tmp_path, identity):
    states = race_states()[:20]

    async def scenario():
        server = await RunningServer(tmp_path).start()
        uplink = Uplink(server.url, identity, client_version="0.1")
        task = asyncio.create_task(uplink.run())
        for i, state in enumerate(states[:10]):
            uplink.publish(state, float(i))
        await until(lambda: uplink.status.acked == 10, what="first acks")
        await server.stop()
        for i, state in enumerate(states[10:], start=10):  # the game goes on meanwhile
            uplink.publish(state, float(i))
        await server.start()
        await until(
            lambda: uplink.status.state == "connected" and uplink.status.pending == 0,
            timeout=15,
            what="resumed",
        )
        await uplink.close()
        await asyncio.wait_for(task, 5)
        # Restarted again: the next patch of that stream has no state to apply to -> resync.
        await server.restart()
        ws, welcome = await raw_client(server.url, identity)
        follow = wire.patch(uplink.stream_id, uplink.status.acked + 1, 1.0, 1.0, {"x": 1})
        await ws.send(wire.encode(follow), text=True)
        resync = await next_message(ws, "resync")
        await ws.close()
        await server.stop()
        return server, uplink, welcome, resync

    server, uplink, welcome, resync = run(scenario(), timeout=40)
    before, after, _ = server.feeds
    assert before.seqs(uplink.stream_id) == list(range(1, 11))
    resumed = after.seqs(uplink.stream_id)
    assert resumed[0] == 11 and resumed == list(range(11, resumed[-1] + 1))
    assert after.seen[0].kind == "snapshot"  # nothing to patch after a restart
    assert canonical(after.state(uplink.stream_id)) == canonical(states[-1])
    assert welcome["streams"][uplink.stream_id] == resumed[-1] == uplink.status.acked  # SQLite
    assert resync["stream"] == uplink.stream_id


def test_clients_in_one_session_get_primary_and_secondary_plans(tmp_path, identity, other):
    state = race_states()[5]

    async def scenario():
        async with RunningServer(tmp_path) as server:
            first = Uplink(server.url, identity, client_version="0.1", name="first")
            second = Uplink(server.url, other, client_version="0.1", name="second")
            tasks = [asyncio.create_task(u.run()) for u in (first, second)]
            first.publish(state, 1.0)
            await until(lambda: first.status.role == "primary", what="primary")
            second.publish(state, 1.0)
            await until(lambda: second.status.role == "secondary", what="secondary")
            roles = (first.plan, second.plan)
            await first.close()  # the primary leaves: the secondary takes over
            await until(lambda: second.status.role == "primary", what="promotion")
            await second.close()
            await asyncio.gather(*tasks)
            return roles

    primary, secondary = run(scenario())
    assert primary["session"] == secondary["session"]
    assert all(primary["fetch"].values()) and not any(secondary["fetch"].values())
