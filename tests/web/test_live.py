"""The live hub's rules, without a network: renders, diffs, coalescing, slow and stuck viewers.

The renderer here is a stand-in with the signature of `web.render.fragments` whose HTML the
test controls; the integration test (test_live_server.py) runs the real one.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from netutil import run_bounded

from web.live.hub import Hub, UnknownTopic, Viewer
from web.live.topics import Mailbox, Push, Topic, TopicKey, delete_fragment, topic_key

SESSION = "s1"
KEY = TopicKey("session", SESSION)


def run(coro, timeout: float = 10.0):
    return run_bounded(coro, timeout)


def oob(element_id: str, text: str) -> str:
    return f'<div id="{element_id}" hx-swap-oob="true">{text}</div>'


class Page:
    """A stand-in renderer: `html` is what the next render returns, `calls` counts renders."""

    def __init__(self, **html: str) -> None:
        self.html = {k: oob(k, v) for k, v in html.items()}
        self.calls = 0

    def set(self, element_id: str, text: str) -> None:
        self.html[element_id] = oob(element_id, text)

    def render(self, view: str, inp, **params) -> dict[str, str]:
        self.calls += 1
        return dict(self.html)


def known_source(key: TopicKey, now: float):
    if key.session_id not in (SESSION, None):
        return None
    return {"session": key.session_id, "now": now}


class Recorder:
    """A viewer's socket: records what it is sent; `gate` (when set) holds every send."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.messages: list[str] = []
        self.times: list[float] = []
        self.gate = gate

    async def send(self, text: str) -> None:
        if self.gate is not None:
            await self.gate.wait()
        self.messages.append(text)
        self.times.append(time.monotonic())


def start(viewer: Viewer) -> asyncio.Task:
    return asyncio.create_task(viewer.run())


async def settle(seconds: float = 0.05) -> None:
    await asyncio.sleep(seconds)


# --- the pure core ---------------------------------------------------------------------------


def test_topic_key_validates_the_query():
    assert topic_key("session", "abc", None) == TopicKey("session", "abc")
    assert topic_key("car", "abc", "1-x.veh") == TopicKey("car", "abc", "1-x.veh")
    assert topic_key("sessions", None, None) == TopicKey("sessions")
    assert topic_key("session", "abc", "ignored") == TopicKey("session", "abc")
    assert topic_key("charts", "abc", None) == TopicKey("charts", "abc")
    assert topic_key("charts", "abc", "1-x.veh") == TopicKey("charts", "abc", "1-x.veh")
    for view, session, car, reason in [
        (None, "abc", None, "missing view"),
        ("standings", "abc", None, "unknown view"),
        ("session", None, None, "needs a session"),
        ("car", "abc", None, "needs a car"),
        ("map", "x" * 500, None, "too long"),
    ]:
        with pytest.raises(ValueError, match=reason):
            topic_key(view, session, car)


def test_only_changed_fragments_are_pushed_and_vanished_ones_deleted():
    topic = Topic(KEY)
    first = topic.update({"a": oob("a", "1"), "b": oob("b", "1"), "c": oob("c", "1")})
    assert first is not None and list(first.fragments) == ["a", "b", "c"]
    assert topic.update({"a": oob("a", "1"), "b": oob("b", "1"), "c": oob("c", "1")}) is None
    push = topic.update({"a": oob("a", "1"), "b": oob("b", "2")})
    assert push is not None
    assert push.fragments == {"b": oob("b", "2"), "c": delete_fragment("c")}
    assert push.text == oob("b", "2") + delete_fragment("c")
    assert push.size == len(push.text.encode())
    assert topic.refresh().text == oob("a", "1") + oob("b", "2")
    with pytest.raises(ValueError):
        delete_fragment('x" onload="alert(1)')


def test_table_rows_travel_apart_from_other_elements():
    row = '<tr id="car-a" hx-swap-oob="true"><td>1</td></tr>'
    body = oob("header", "ET 1")
    gone = delete_fragment("old")
    push = Push.of({"header": body, "car-a": row, "old": gone, "car-b": row.replace("a", "b")})
    # a <tr> after a <div> would be dropped by the parser: two messages, rows together
    assert push.texts == (body + gone, row + row.replace("a", "b"))
    assert Push.of({"car-a": row, "old": gone}).texts == (row + gone,)
    assert Push.of({"header": body}).texts == (body,)
    assert push.size == len((body + gone + row + row.replace("a", "b")).encode())


def test_the_refresh_is_built_once_per_render():
    topic = Topic(KEY)
    topic.update({"a": oob("a", "1")})
    assert topic.refresh() is topic.refresh()
    before = topic.refresh()
    topic.update({"a": oob("a", "2")})
    assert topic.refresh() is not before and topic.refresh().text == oob("a", "2")


def test_coalescing_keeps_the_newest_per_element_in_first_seen_order():
    box = Mailbox()
    one = Push.of({"a": "a1", "b": "b1"})
    box.put(one)
    assert box.take() is one  # nothing merged: the shared object itself
    assert not box
    box.put(Push.of({"a": "a1", "b": "b1"}))
    box.put(Push.of({"a": "a2"}))
    box.put(Push.of({"c": "c1", "b": "b3"}))
    merged = box.take()
    assert merged is not None
    assert merged.fragments == {"a": "a2", "b": "b3", "c": "c1"}
    assert list(merged.fragments) == ["a", "b", "c"]
    assert merged.text == "a2b3c1"
    assert box.coalesced == 2 and box.take() is None


# --- the hub ---------------------------------------------------------------------------------


def test_one_render_per_change_for_many_viewers_and_the_same_str_for_all():
    async def scenario():
        page = Page(header="ET 1", row="P1")
        hub = Hub(known_source, page.render, interval=0.05)
        sockets = [Recorder() for _ in range(50)]
        viewers = [Viewer(s.send) for s in sockets]
        for v in viewers:
            hub.subscribe(KEY, v)
        tasks = [start(v) for v in viewers]
        await settle()
        assert page.calls == 1  # the first subscriber rendered it; the others share it
        assert all(s.messages == [oob("header", "ET 1") + oob("row", "P1")] for s in sockets)
        assert len({id(s.messages[0]) for s in sockets}) == 1
        page.set("header", "ET 2")
        hub.session_changed(SESSION)
        hub.session_changed(SESSION)  # the same commit told twice: still one render
        hub.session_changed("another session")
        await settle(0.2)
        assert page.calls == 2
        assert all(s.messages[1:] == [oob("header", "ET 2")] for s in sockets)
        assert len({id(s.messages[1]) for s in sockets}) == 1  # rendered once, sent to all
        stats = hub.stats()
        assert stats["viewers"] == 50 and stats["topics"] == 1 and stats["renders"] == 2
        assert stats["messages_sent"] == 100
        for t in tasks:
            t.cancel()

    run(scenario())


def test_unchanged_html_is_not_sent():
    async def scenario():
        page = Page(header="ET 1", row="P1")
        hub = Hub(known_source, page.render, interval=0.01)
        sock = Recorder()
        viewer = Viewer(sock.send)
        hub.subscribe(KEY, viewer)
        task = start(viewer)
        await settle()
        for _ in range(3):
            hub.session_changed(SESSION)
            await settle()
        assert page.calls == 4 and len(sock.messages) == 1
        page.set("row", "P2")
        hub.session_changed(SESSION)
        await settle()
        assert sock.messages[1:] == [oob("row", "P2")]
        task.cancel()

    run(scenario())


def test_renders_at_most_every_interval_the_first_at_once():
    async def scenario():
        page = Page(header="0")
        hub = Hub(known_source, page.render, interval=1.0)
        sock = Recorder()
        viewer = Viewer(sock.send)
        hub.subscribe(KEY, viewer)
        task = start(viewer)
        await asyncio.sleep(1.1)  # quiet for longer than the interval
        t0 = time.monotonic()
        for i in range(1, 11):  # ten changes in 0.1 s
            page.set("header", str(i))
            hub.session_changed(SESSION)
            await asyncio.sleep(0.01)
        await asyncio.sleep(1.2)
        assert page.calls == 3  # subscribe, the first change at once, the rest together
        assert sock.times[1] - t0 < 0.3, "the first change after a quiet period waits"
        assert sock.times[2] - sock.times[1] >= 0.85
        assert sock.messages[-1] == oob("header", "10")
        task.cancel()

    run(scenario())


def test_coalescing_sender_sends_the_newest_not_a_backlog():
    async def scenario():
        page = Page(a="0", b="0")
        hub = Hub(known_source, page.render, interval=0.0)
        gate = asyncio.Event()
        sock = Recorder(gate)
        viewer = Viewer(sock.send)
        hub.subscribe(KEY, viewer)
        task = start(viewer)
        await settle()  # the refresh is being sent (held by the gate)
        for i in range(1, 20):
            page.set("a", str(i))
            if i == 5:
                page.set("b", "5")
            hub.session_changed(SESSION)
            await settle(0.01)
        gate.set()
        await settle()
        assert sock.messages == [oob("a", "0") + oob("b", "0"), oob("a", "19") + oob("b", "5")]
        assert hub.stats()["coalesced"] == 18
        task.cancel()

    run(scenario())


def test_a_slow_viewer_does_not_delay_a_fast_one():
    async def scenario():
        page = Page(clock="0")
        hub = Hub(known_source, page.render, interval=0.0)
        slow_gate = asyncio.Event()  # never set: this viewer's socket never drains
        slow, fast = Recorder(slow_gate), Recorder()
        viewers = [Viewer(slow.send), Viewer(fast.send)]
        for v in viewers:
            hub.subscribe(KEY, v)
        tasks = [start(v) for v in viewers]
        await settle()
        sent_at = []
        for i in range(1, 11):
            page.set("clock", str(i))
            sent_at.append(time.monotonic())
            hub.session_changed(SESSION)
            await asyncio.sleep(0.02)
        await settle()
        assert fast.messages[1:] == [oob("clock", str(i)) for i in range(1, 11)]
        delays = [got - sent for got, sent in zip(fast.times[1:], sent_at, strict=True)]
        assert max(delays) < 0.25, delays  # it never waits for the one that never drains
        assert slow.messages == []
        for t in tasks:
            t.cancel()

    run(scenario())


def test_a_stuck_viewer_is_dropped():
    async def scenario():
        page = Page(clock="0")
        hub = Hub(known_source, page.render)
        sock = Recorder(asyncio.Event())  # never drains
        viewer = Viewer(sock.send, stuck_after=0.1)
        hub.subscribe(KEY, viewer)
        await asyncio.wait_for(viewer.run(), 1.0)  # returns by itself
        assert viewer.stuck and viewer.dropped is not None and "stuck" in viewer.dropped
        hub.unsubscribe(KEY, viewer)
        assert hub.stats()["dropped_viewers"] == 1

    run(scenario())


def test_a_topic_without_viewers_is_dropped_and_not_rendered():
    async def scenario():
        page = Page(header="x")
        hub = Hub(known_source, page.render, interval=0.0)
        viewers = [Viewer(Recorder().send) for _ in range(3)]
        for v in viewers:
            hub.subscribe(KEY, v)
        for v in viewers[:2]:
            hub.unsubscribe(KEY, v)
        assert KEY in hub.topics
        hub.unsubscribe(KEY, viewers[2])
        assert hub.topics == {} and hub.stats()["topics"] == 0
        calls = page.calls
        hub.session_changed(SESSION)
        await settle()
        assert page.calls == calls

    run(scenario())


def test_the_map_renders_at_its_rate_while_watched():
    async def scenario():
        page = Page(cars="dots")
        hub = Hub(known_source, page.render, map_interval=0.1)
        key = TopicKey("map", SESSION)
        viewer = Viewer(Recorder().send)
        hub.subscribe(key, viewer)
        await asyncio.sleep(0.55)  # no session change at all
        assert 3 <= page.calls <= 7  # about one per 0.1 s, with no change at all
        hub.unsubscribe(key, viewer)
        calls = page.calls
        await asyncio.sleep(0.3)
        assert page.calls == calls

    run(scenario())


def test_an_unknown_session_or_a_failing_first_render_is_refused():
    async def scenario():
        hub = Hub(known_source, Page(a="1").render)
        with pytest.raises(UnknownTopic, match="unknown session nope"):
            hub.subscribe(TopicKey("session", "nope"), Viewer(Recorder().send))
        assert hub.topics == {}

        def broken(view, inp, **params):
            raise RuntimeError("template bug")

        hub = Hub(known_source, broken)
        with pytest.raises(RuntimeError):
            hub.subscribe(KEY, Viewer(Recorder().send))
        assert KEY not in hub.topics

    run(scenario())


def test_a_render_that_fails_later_keeps_what_viewers_have():
    async def scenario():
        page = Page(a="1")
        hub = Hub(known_source, page.render, interval=0.0)
        sock = Recorder()
        viewer = Viewer(sock.send)
        hub.subscribe(KEY, viewer)
        task = start(viewer)
        await settle()
        page.html = None  # type: ignore[assignment]  # dict(None) raises in render
        hub.session_changed(SESSION)
        await settle()
        page.html = {"a": oob("a", "2")}
        hub.session_changed(SESSION)
        await settle()
        assert sock.messages == [oob("a", "1"), oob("a", "2")]
        task.cancel()

    run(scenario())
