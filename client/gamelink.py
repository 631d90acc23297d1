"""The client's two links to the game: REST GETs and the push websocket (aiohttp).

Why aiohttp: the client's budget is under 1% of a core, and on the game side it makes ~4 GETs a
second and receives ~20 pushed frames of up to 80 kB. aiohttp parses HTTP and websocket frames
in C; measured against the simulator (60 cars) a GET costs less than half the CPU it costs through
httpx/httpcore and the push feed about a quarter less than through `websockets`. The link to
the tracker server (`client.uplink`, one message a second) stays on `websockets`.

Both are created lazily inside the running event loop (aiohttp wants its session made there).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time

import aiohttp
import orjson

log = logging.getLogger(__name__)

WS_OPEN_TIMEOUT = 2.0  # to open the push websocket (connect and handshake)
WS_STALE_AFTER = 3.0  # a pushed frame older than this is not used (the game stopped pushing)
WS_SILENCE = 30.0  # reconnect when the game pushed nothing for this long
WS_BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0)
TOPIC_NAMES = ("LiveStandings", "SessionInfo")
_TOPIC_RE = re.compile(rb'"topic"\s*:\s*"(LiveStandings|SessionInfo)"')


class Refused(ConnectionError):
    """Nothing listens on the game's port (the game is not running)."""


#: What a GET can raise besides `Refused` and `TimeoutError` (a hiccup, not a verdict).
GET_ERRORS = (aiohttp.ClientError, OSError)


class GameHttp:
    """GETs to the game's REST API over a few keep-alive connections."""

    def __init__(self, base_url: str, timeout: float) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=None, connect=timeout, sock_read=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._urls: dict[str, str] = {}

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=12, ttl_dns_cache=300),
                timeout=self._timeout,
                headers={"Accept": "application/json"},
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def get(self, path: str) -> tuple[int, bytes]:
        """(HTTP status, body) of `GET path`; raises `Refused`, `TimeoutError` or `GET_ERRORS`."""
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = self.base_url + path
        try:
            async with self._client().get(url, allow_redirects=False) as response:
                return response.status, await response.read()
        except aiohttp.ClientConnectorError as exc:
            raise Refused(str(exc)) from None
        except aiohttp.ServerTimeoutError as exc:
            raise TimeoutError(str(exc)) from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class PushFeed:
    """The game's push websocket: subscribe, keep the newest raw frame per topic, reconnect."""

    def __init__(self, url: str, topics: tuple[str, ...] = TOPIC_NAMES) -> None:
        self.url = url
        self.topics = topics
        self.frames: dict[str, tuple[str | bytes, float]] = {}  # topic -> (raw, monotonic time)
        self.connected = False
        self.connects = 0
        self._task: asyncio.Task | None = None

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

    def newest(self, topic: str, now: float) -> str | bytes | None:
        item = self.frames.get(topic)
        if item is None or now - item[1] > WS_STALE_AFTER:
            return None
        return item[0]

    @staticmethod
    def topic_of(frame: str | bytes) -> str | None:
        """The topic of an UPDATE frame without parsing its body.

        Quotes inside JSON strings are escaped, so `"topic":"..."` can only be a key; the game
        writes keys in order, so it is near the end: look there first.
        """
        if type(frame) is str:  # the feed reads bytes (decode_text=False); text works too
            frame = frame.encode()
        match = _TOPIC_RE.search(frame, max(0, len(frame) - 64)) or _TOPIC_RE.search(frame)
        return match.group(1).decode() if match else None

    async def _run(self) -> None:
        failures = 0
        handshake = aiohttp.ClientTimeout(total=WS_OPEN_TIMEOUT, connect=WS_OPEN_TIMEOUT)
        async with aiohttp.ClientSession(timeout=handshake) as session:
            while True:
                try:
                    async with session.ws_connect(
                        self.url,
                        autoping=False,  # the game does not answer pings
                        max_msg_size=2**23,
                        compress=0,  # inflating 20 frames a second would cost more than all else
                        decode_text=False,  # bytes: only the frame used at a tick gets decoded
                        timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2.0),
                    ) as ws:
                        self.connected = True
                        self.connects += 1
                        failures = 0
                        log.debug("push feed connected to %s", self.url)
                        for topic in self.topics:
                            await ws.send_str(
                                orjson.dumps({"messageType": "SUB", "topic": topic}).decode()
                            )
                        await self._receive(ws)
                except asyncio.CancelledError:
                    raise
                except (OSError, TimeoutError, aiohttp.ClientError) as exc:
                    log.debug("push feed %s: %s", self.url, exc or type(exc).__name__)
                except Exception:
                    log.exception("push feed failed")
                self.connected = False
                delay = WS_BACKOFF[min(failures, len(WS_BACKOFF) - 1)]
                failures += 1
                await asyncio.sleep(delay)

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Keep the newest frame per topic until the game closes; TimeoutError after
        `WS_SILENCE` s without a frame (the deadline moves at most once a second: a timer per
        frame would cost more than the frame)."""
        loop = asyncio.get_running_loop()
        text, binary = aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY
        async with asyncio.timeout(WS_SILENCE) as silence:
            rearm_at = 0.0
            while True:
                message = await ws.receive()
                kind = message.type
                if kind is not text and kind is not binary:
                    if kind is aiohttp.WSMsgType.ERROR:
                        raise ConnectionError(f"push feed error: {message.data}")
                    if kind in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
                        continue
                    return  # closed by the game
                now = time.monotonic()
                frame = message.data
                topic = self.topic_of(frame)
                if topic is not None:
                    self.frames[topic] = (frame, now)
                if now >= rearm_at:
                    silence.reschedule(loop.time() + WS_SILENCE)
                    rearm_at = now + 1.0
