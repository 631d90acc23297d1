"""The game's push websocket, read in one burst per tick (websockets' sans-I/O protocol).

The game pushes `LiveStandings` and `SessionInfo` about ten times a second each (60 cars:
~0.9 MB a second) and a tick uses the newest frame of each. Woken for every frame, the client
spent ~0.37% of a core on them, over a third of its whole budget, however the frames were read
(aiohttp, websockets' asyncio client, websockets' sans-I/O protocol on a plain asyncio
Protocol: the cost is per wake-up). So this feed reads the socket when the reader asks
(`catch_up()` at the start of each tick): one `recv_into` takes everything the kernel kept
since the last read, and reading pauses again as soon as the socket is drained. The same
frames then cost ~0.11% of a core (`tests/bench/bench_client.py`).

A paused reader must never slow the game down: once the receive window is full, the game's
writes would block or pile up inside the game. So the socket's receive buffer is enlarged
(`SO_RCVBUF`) and reading never pauses for longer than the push rate takes to fill `SAFE_FILL`
of what the OS granted. The rate counted is the larger of `RATE_FLOOR` (more than a full grid
pushes) and the measured one (a slowly decaying maximum). When ticks are further apart than
that, a timer drains the socket in between; when the OS grants too small a buffer for a pause
to be worth it (`MIN_PAUSE`), reading does not pause at all. The game cannot tell this reader
from a quick one.

Only where a short read means a drained socket: a selector event loop (Linux, macOS; on
Windows the `WindowsSelectorEventLoopPolicy`) over plain TCP (the game's `ws://`). Windows'
default Proactor loop keeps a read pending while paused and hands its bytes over on resume, and
TLS re-chunks what it decrypts, so a short read proves nothing there: on those the feed reads as
frames come, as it did before (`reads_in_bursts`).

websockets' `ClientProtocol` does the opening handshake, the framing, pings and the closing
handshake; this module moves the bytes, which is what lets it pause the transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import time

import orjson
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHandshake, InvalidURI, ProtocolError
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import WebSocketURI, parse_uri

log = logging.getLogger(__name__)

WS_OPEN_TIMEOUT = 2.0  # to open the push websocket (connect and handshake)
WS_STALE_AFTER = 3.0  # a pushed frame older than this is not used (the game stopped pushing)
WS_SILENCE = 30.0  # reconnect when the game pushed nothing for this long
WS_BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0)
TOPIC_NAMES = ("LiveStandings", "SessionInfo")
MAX_FRAME = 2**23

READ_BUFFER = 2**20  # one read takes a second of a 60-car race (~0.9 MB)
RECEIVE_BUFFER = 8 * 2**20  # asked of the OS for the socket; it may grant less
SAFE_FILL = 0.5  # of the granted buffer (counted at half), the most a pause may fill
RATE_FLOOR = 2**20  # bytes a second a pause is planned for at least (60 cars push ~0.9 MB)
MIN_PAUSE = 0.02  # seconds; a shorter safe pause is not worth pausing for
MAX_PAUSE = 2.0  # seconds; longer than a tick, so the tick drains, not a timer
RATE_WINDOW = 0.5  # seconds of reading the push rate is measured over (at least)
CATCH_UP_WAIT = 0.05  # the longest a tick waits for a drain that takes several reads
CATCH_UP_YIELDS = 2  # loop turns a tick gives a queued read to come in

#: What opening the push websocket can raise besides `OSError` and `TimeoutError`.
OPEN_ERRORS = (InvalidHandshake, InvalidURI, ProtocolError, ConnectionError)
_TOPIC_RE = re.compile(rb'"topic"\s*:\s*"(LiveStandings|SessionInfo)"')


def reads_in_bursts(loop: asyncio.AbstractEventLoop, secure: bool) -> bool:
    """Whether a read shorter than the buffer means the socket is drained (module docstring)."""
    return isinstance(loop, asyncio.SelectorEventLoop) and not secure


def safe_pause(window: int, rate: float | None) -> float:
    """The longest pause in reading that fills at most `SAFE_FILL` of a receive buffer holding
    `window` bytes, at the push `rate` (bytes a second) or `RATE_FLOOR`, whichever is more."""
    return min(MAX_PAUSE, SAFE_FILL * window / max(rate or 0.0, RATE_FLOOR))


def topic_of(frame: str | bytes) -> str | None:
    """The topic of an UPDATE frame without parsing its body.

    Quotes inside JSON strings are escaped, so `"topic":"..."` can only be a key; the game
    writes keys in order, so it is near the end: look there first.
    """
    if type(frame) is str:  # the feed keeps bytes; text works too
        frame = frame.encode()
    match = _TOPIC_RE.search(frame, max(0, len(frame) - 64)) or _TOPIC_RE.search(frame)
    return match.group(1).decode() if match else None


class PushFeed:
    """The game's push websocket: subscribe, keep the newest raw frame per topic, reconnect."""

    topic_of = staticmethod(topic_of)

    def __init__(self, url: str, topics: tuple[str, ...] = TOPIC_NAMES) -> None:
        self.url = url
        self.topics = topics
        self.frames: dict[str, tuple[bytes, float]] = {}  # topic -> (raw, monotonic time)
        self.connected = False
        self.connects = 0
        self.reads = 0  # socket reads (one per tick while the game pushes, not one per frame)
        self._task: asyncio.Task | None = None
        self._link: _FeedLink | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="game-push-feed")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        self.connected = False

    async def catch_up(self, wait: float = CATCH_UP_WAIT) -> None:
        """Read everything the game pushed since the last read (each tick calls this first)."""
        link = self._link
        if link is not None and self.connected:
            await link.drain(wait)

    def newest(self, topic: str, now: float) -> bytes | None:
        item = self.frames.get(topic)
        if item is None or now - item[1] > WS_STALE_AFTER:
            return None
        return item[0]

    def keep(self, frame: bytes, now: float) -> None:
        """Keep a frame if it is the newest of a known topic (called by the link)."""
        topic = topic_of(frame)
        if topic is not None:
            self.frames[topic] = (frame, now)

    async def _run(self) -> None:
        failures = 0
        while True:
            link: _FeedLink | None = None
            try:
                link = await self._open()
                self._link, self.connected = link, True
                self.connects += 1
                failures = 0
                log.debug("push feed connected to %s", self.url)
                for topic in self.topics:
                    link.send_text(orjson.dumps({"messageType": "SUB", "topic": topic}))
                await self._until_closed(link)
            except asyncio.CancelledError:
                raise
            except (OSError, TimeoutError, *OPEN_ERRORS) as exc:
                log.debug("push feed %s: %s", self.url, exc or type(exc).__name__)
            except Exception:
                log.exception("push feed failed")
            finally:
                self._link, self.connected = None, False
                if link is not None:
                    link.abort()
            delay = WS_BACKOFF[min(failures, len(WS_BACKOFF) - 1)]
            failures += 1
            await asyncio.sleep(delay)

    async def _open(self) -> _FeedLink:
        uri = parse_uri(self.url)
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(WS_OPEN_TIMEOUT):
            _transport, link = await loop.create_connection(
                lambda: _FeedLink(uri, self),
                uri.host,
                uri.port,
                ssl=True if uri.secure else None,
            )
            try:
                await link.opened
            except BaseException:
                link.abort()
                raise
        return link

    @staticmethod
    async def _until_closed(link: _FeedLink) -> None:
        """Until the game closes the link; closes it after `WS_SILENCE` s without a frame
        (checked when that much could have passed, not every second: a wake-up costs)."""
        while True:
            quiet = time.monotonic() - link.last_frame
            if quiet > WS_SILENCE:
                raise TimeoutError(f"no frame for {WS_SILENCE:.0f} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(link.closed), WS_SILENCE - quiet + 0.1)
                return


class _FeedLink(asyncio.BufferedProtocol):
    """One connection: bytes in and out of websockets' protocol, read in drains."""

    def __init__(self, uri: WebSocketURI, feed: PushFeed) -> None:
        loop = asyncio.get_running_loop()
        self.protocol = ClientProtocol(uri, max_size=MAX_FRAME)
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.last_frame = time.monotonic()
        self.rate: float | None = None  # bytes a second the game pushes (a decaying maximum)
        self.window = 0  # bytes the socket's receive buffer holds for us (0: unknown)
        self.bursts = reads_in_bursts(loop, uri.secure)
        self._feed = feed
        self._loop = loop
        self._buffer = bytearray(READ_BUFFER)
        self._view = memoryview(self._buffer)
        self._parts: list[bytes] = []  # a fragmented message so far
        self._transport: asyncio.Transport | None = None
        self._drained: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._read_since = time.monotonic()
        self._bytes_since = 0

    # --- asyncio's side --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            with contextlib.suppress(OSError):
                # Linux reports twice what it keeps for data: count half, wherever we run.
                self.window = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2
        self.protocol.send_request(self.protocol.connect())
        self._flush()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        self._feed.reads += 1
        self._bytes_since += nbytes
        self.protocol.receive_data(self._view[:nbytes])  # copied into the protocol's buffer
        self._handle_events()
        self._flush()
        if nbytes < len(self._buffer) and self.opened.done() and not self.closed.done():
            self._on_drained()

    def eof_received(self) -> None:
        self.protocol.receive_eof()
        self._handle_events()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    # --- the feed's side -------------------------------------------------------------------

    def send_text(self, data: bytes) -> None:
        self.protocol.send_text(data)
        self._flush()

    async def drain(self, wait: float) -> None:
        """Read what is queued now: returns once the socket is drained, at once when nothing
        was queued, and after `wait` s at most.

        Whether anything is queued shows in `CATCH_UP_YIELDS` turns of the event loop: the
        resumed socket is polled in the first and read in it or the next. Nothing read by then
        means nothing was there; waiting on would only delay the tick (a test stepping the game
        ticks back to back: 20 ms a tick added minutes), and the next push is read and the
        socket paused by itself. A queue longer than one read is waited for, up to `wait`.
        """
        if not self.bursts:
            return  # never paused: read as the frames came
        reads = self._feed.reads
        self._drained = drained = self._loop.create_future()
        self._resume()
        try:
            for _ in range(CATCH_UP_YIELDS):
                await asyncio.sleep(0)
            if drained.done() or self._feed.reads == reads:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(drained), wait)
        finally:
            self._drained = None

    def abort(self) -> None:
        self._cancel_timer()
        if self._transport is not None:
            self._transport.abort()

    # --- inside ----------------------------------------------------------------------------

    def _handle_events(self) -> None:
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                if self.opened.done():
                    continue
                failure = self.protocol.handshake_exc
                if failure is None:
                    self.opened.set_result(None)
                else:
                    self.opened.set_exception(failure)
            elif isinstance(event, Frame):
                self._on_frame(event)

    def _on_frame(self, frame: Frame) -> None:
        """Pings and the closing handshake are the protocol's; data frames are kept."""
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if frame.fin:
                self._kept(frame.data)
            else:
                self._parts = [frame.data]
        elif opcode is Opcode.CONT and self._parts:
            self._parts.append(frame.data)
            if frame.fin:
                data, self._parts = b"".join(self._parts), []
                self._kept(data)

    def _kept(self, data: bytes) -> None:
        self.last_frame = now = time.monotonic()
        self._feed.keep(data, now)

    def _flush(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        for data in self.protocol.data_to_send():
            if data:
                transport.write(data)
            else:  # the closing handshake is over: end the connection
                transport.close()
                return

    def _on_drained(self) -> None:
        """The socket is empty: pause reading until the next tick or the safe pause is up."""
        now = time.monotonic()
        elapsed = now - self._read_since
        if elapsed >= RATE_WINDOW:
            rate = self._bytes_since / elapsed
            self.rate = rate if self.rate is None else max(rate, 0.9 * self.rate)
            self._read_since, self._bytes_since = now, 0
        pause = safe_pause(self.window, self.rate)
        if self.bursts and pause >= MIN_PAUSE:
            assert self._transport is not None
            self._transport.pause_reading()
            self._cancel_timer()
            self._timer = self._loop.call_later(pause, self._resume)
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _resume(self) -> None:
        self._cancel_timer()
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.resume_reading()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
