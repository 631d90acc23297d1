"""The live hub: renders each watched topic once per change and fans the same str out to viewers.

`LiveSessions.listen` calls `session_changed(session_id)` after a change is committed; the hub
marks that session's topics (and the sessions list) dirty and schedules one render per topic:
at once for the first change after a quiet period, then at most every `interval` seconds. A
render asks `source(key, now)` for the view's input and `render(view, inp, **params)` for its
fragments, diffs them against the topic's last HTML and puts the one resulting `Push` into every
viewer's mailbox. Map topics render at `map_interval` while watched, changed or not (the dots
move by extrapolation between feeds). A topic without viewers is dropped.

Each `Viewer` sends from its own task through its coalescing mailbox, so a slow browser gets
the newest HTML, never a backlog, and never delays the others; a send stuck for `stuck_after`
seconds ends the viewer.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from web.live import frames
from web.live.topics import Mailbox, Push, Topic, TopicKey

log = logging.getLogger(__name__)

RENDER_INTERVAL = 0.5  # s: a topic renders at most this often
MAP_INTERVAL = 0.5  # s: the map's cars layer renders this often while watched (2 Hz)
STUCK_AFTER = 30.0  # s: a viewer whose send takes longer is dropped

Render = Callable[..., dict[str, str]]  # (view, inp, **params) -> element id -> OOB HTML
Source = Callable[[TopicKey, float], Any]  # (topic, unix now) -> the view's input, or None


class UnknownTopic(LookupError):
    """The view's input does not exist (an unknown session or car): the reason says which."""


class Viewer:
    """One subscribed websocket: a mailbox and the task that empties it through `send`."""

    def __init__(
        self,
        send: Callable[[str], Awaitable[Any]],
        *,
        stuck_after: float = STUCK_AFTER,
        delays: deque[float] | None = None,
    ) -> None:
        self._send = send
        self.delays = delays  # where to note s from a push to its send returning (figures)
        self._waiting_since: float | None = None
        self.stuck_after = stuck_after
        self.mailbox = Mailbox()
        self._ready = asyncio.Event()
        self.sent = 0  # messages
        self.bytes_sent = 0
        self.dropped: str | None = None  # why the sender stopped, if it did
        self.stuck = False  # ... because a send was stuck (a slow or dead browser)

    def put(self, push: Push) -> None:
        if self._waiting_since is None:
            self._waiting_since = time.perf_counter()
        self.mailbox.put(push)
        self._ready.set()

    def refresh(self, push: Push) -> None:
        self.mailbox.replace(push)
        self._ready.set()

    async def run(self) -> None:
        """Send whatever the mailbox holds until cancelled, the socket fails or a send is stuck."""
        while True:
            await self._ready.wait()
            self._ready.clear()
            push = self.mailbox.take()
            if push is None:
                continue
            since, self._waiting_since = self._waiting_since, None
            try:
                for text in push.texts:
                    async with asyncio.timeout(self.stuck_after):  # no extra task (wait_for)
                        await self._send(text)
                    self.sent += 1
            except TimeoutError:
                self.dropped = f"a send was stuck for {self.stuck_after:.0f} s"
                self.stuck = True
                return
            except Exception as exc:  # the socket went away
                self.dropped = f"send failed: {type(exc).__name__}"
                return
            self.bytes_sent += push.size
            if since is not None and self.delays is not None:
                self.delays.append(time.perf_counter() - since)


class Hub:
    """Topics, their renders and their viewers, in one event loop."""

    def __init__(
        self,
        source: Source,
        render: Render,
        *,
        interval: float = RENDER_INTERVAL,
        map_interval: float = MAP_INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.render = render
        self.interval = interval
        self.map_interval = map_interval
        self.clock = clock
        self.topics: dict[TopicKey, Topic] = {}
        self._scheduled: dict[TopicKey, asyncio.Handle] = {}
        self._rendered_at: dict[TopicKey, float] = {}  # loop time of the last render
        self.renders = 0
        self.render_seconds = 0.0
        self.pushes = 0
        self.dropped_viewers = 0
        self._gone_bytes = 0  # bytes sent to viewers that left
        self._gone_messages = 0
        self._gone_coalesced = 0
        self._lags: deque[float] = deque(maxlen=200)  # s from a feed to its render starting
        self._fed_seen: dict[TopicKey, Any] = {}
        self.send_delays: deque[float] = deque(maxlen=5000)  # push -> handed to the socket

    # --- viewers -----------------------------------------------------------------------------

    def subscribe(self, key: TopicKey, viewer: Viewer) -> None:
        """Add a viewer and queue its full refresh (rendering the topic first if it is new).
        Raises UnknownTopic when the topic's session or car does not exist."""
        topic = self.topics.get(key)
        if topic is None or not topic.rendered:
            topic = topic or Topic(key)
            self._render_now(topic, raise_unknown=True)
            self.topics[key] = topic
            if key.view == "map":
                self._schedule(key, self.map_interval)
        topic.viewers.add(viewer)
        if viewer.delays is None:
            viewer.delays = self.send_delays
        viewer.refresh(topic.refresh())

    def unsubscribe(self, key: TopicKey, viewer: Viewer) -> None:
        topic = self.topics.get(key)
        self._gone_bytes += viewer.bytes_sent
        self._gone_messages += viewer.sent
        self._gone_coalesced += viewer.mailbox.coalesced
        if viewer.stuck:
            self.dropped_viewers += 1
        if topic is None:
            return
        topic.viewers.discard(viewer)
        if not topic.viewers:  # nobody watches: no rendering for nobody
            del self.topics[key]
            self._rendered_at.pop(key, None)
            self._fed_seen.pop(key, None)
            handle = self._scheduled.pop(key, None)
            if handle is not None:
                handle.cancel()

    # --- changes -----------------------------------------------------------------------------

    def session_changed(self, session_id: str) -> None:
        """The `LiveSessions.listen` callback: never blocks, only schedules renders."""
        for key in list(self.topics):
            if key.session_id == session_id or key.session_id is None:
                self._dirty(key)

    def _dirty(self, key: TopicKey) -> None:
        if key in self._scheduled:
            return  # a render is coming anyway
        last = self._rendered_at.get(key)
        now = asyncio.get_running_loop().time()
        delay = 0.0 if last is None else max(0.0, last + self.interval - now)
        self._schedule(key, delay)

    def _schedule(self, key: TopicKey, delay: float) -> None:
        loop = asyncio.get_running_loop()
        if delay <= 0:
            self._scheduled[key] = loop.call_soon(self._scheduled_render, key)
        else:
            self._scheduled[key] = loop.call_later(delay, self._scheduled_render, key)

    def _scheduled_render(self, key: TopicKey) -> None:
        self._scheduled.pop(key, None)
        topic = self.topics.get(key)
        if topic is None:
            return
        push = self._render_now(topic)
        if push is not None:
            self.pushes += 1
            for viewer in topic.viewers:
                viewer.put(push)  # the same Push, the same str, for every viewer
        if key.view == "map" and topic.viewers and key not in self._scheduled:
            self._schedule(key, self.map_interval)

    def _render_now(self, topic: Topic, raise_unknown: bool = False) -> Push | None:
        key = topic.key
        started = time.perf_counter()
        self._rendered_at[key] = asyncio.get_running_loop().time()
        try:
            now = self.clock()
            inp = self.source(key, now)
            if inp is None:
                raise UnknownTopic(f"unknown session {key.session_id}")
            fed_at = getattr(inp, "fed_at", None)
            if type(fed_at) is float and self._fed_seen.get(key, fed_at) != fed_at:
                self._lags.append(now - fed_at)  # the first render of a newly fed update
            self._fed_seen[key] = fed_at
            fragments = self.render(key.view, inp, **key.params())
        except UnknownTopic:
            if raise_unknown:
                raise
            return None  # the session went away: keep what the viewers have
        except Exception:
            if raise_unknown:
                raise
            log.exception("rendering %s failed", key)
            return None
        finally:
            self.renders += 1
            self.render_seconds += time.perf_counter() - started
        return topic.update(fragments)

    # --- figures -----------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters for /status.json."""
        viewers = [v for t in self.topics.values() for v in t.viewers]
        return {
            "viewers": len(viewers),
            "topics": len(self.topics),
            "renders": self.renders,
            "render_seconds": round(self.render_seconds, 3),
            "pushes": self.pushes,
            "messages_sent": self._gone_messages + sum(v.sent for v in viewers),
            "bytes_sent": self._gone_bytes + sum(v.bytes_sent for v in viewers),
            "coalesced": self._gone_coalesced + sum(v.mailbox.coalesced for v in viewers),
            "dropped_viewers": self.dropped_viewers,
            # websocket frames built (and compressed) once, and written to sockets
            "frames_built": frames.counters["frames_built"],
            "frames_written": frames.counters["frames_written"],
            "frame_bytes_written": frames.counters["frame_bytes_written"],  # on the wire
            # how long after the server received an update its render started (the store's
            # commit comes first): p50 and max over the last renders, in ms
            "feed_to_render_ms": _spread(self._lags),
            # how long after a render its message was handed to each viewer's socket, in ms
            "push_to_socket_ms": _spread(self.send_delays),
        }

    def close(self) -> None:
        """Cancel scheduled renders (the server stops)."""
        for handle in self._scheduled.values():
            handle.cancel()
        self._scheduled.clear()


def _spread(values: deque[float]) -> dict[str, float] | None:
    """p50, p99 and max of recent durations, in ms."""
    if not values:
        return None
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return {"p50": round(statistics.median(ordered) * 1e3, 1), "p99": round(p99 * 1e3, 1),
            "max": round(ordered[-1] * 1e3, 1)}  # fmt: skip
