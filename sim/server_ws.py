"""The game's push websocket for one viewpoint (`ws://host:port/websocket/ui`).

A client sends `{"messageType": "SUB", "topic": "LiveStandings"}` frames; the game then pushes an
UPDATE frame per subscribed topic about every 100 ms of wall time. Bad frames are ignored (the
game does not answer them); nothing is pushed while the game is not in a session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from http import HTTPStatus

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from sim.faults import apply_drift
from sim.render import TOPICS, serialize
from sim.server_feed import RaceFeed
from sim.server_net import bind
from sim.viewpoint import Viewpoint

log = logging.getLogger(__name__)

WS_PATH = "/websocket/ui"
PUSH_INTERVAL = 0.1  # seconds of wall time between pushes


def parse_subscription(raw: str | bytes) -> tuple[str, str] | None:
    """(messageType, topic) of a client frame, or None for anything the game would ignore."""
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(message, dict):
        return None
    kind, topic = message.get("messageType"), message.get("topic")
    if kind not in ("SUB", "UNSUB") or topic not in TOPICS:
        return None
    return kind, topic


class PushServer:
    """The websocket port of a viewpoint; stoppable and restartable on the same port."""

    def __init__(self, feed: RaceFeed, view: Viewpoint, faults_of, host: str, port: int) -> None:
        self.feed = feed
        self.view = view
        self.faults_of = faults_of
        self.host = host
        self.port = port
        self._server: Server | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        sock = bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        self._server = await serve(
            self._session,
            sock=sock,
            process_request=self._check_path,
            ping_interval=None,
            max_size=2**20,
        )

    async def stop(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close(close_connections=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), timeout=3)

    def _check_path(self, connection: ServerConnection, request):
        if request.path.split("?")[0] != WS_PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, "")
        return None

    async def _session(self, connection: ServerConnection) -> None:
        topics: set[str] = set()

        async def listen() -> None:
            async for raw in connection:
                parsed = parse_subscription(raw)
                if parsed is None:
                    log.debug("viewpoint %d: ignored websocket frame %r", self.view.index, raw)
                    continue
                kind, topic = parsed
                if kind == "SUB":
                    topics.add(topic)
                else:
                    topics.discard(topic)

        listener = asyncio.create_task(listen())
        loop = asyncio.get_running_loop()
        next_push = loop.time()
        try:
            while not listener.done():
                next_push += PUSH_INTERVAL
                await asyncio.sleep(max(0.0, next_push - loop.time()))
                if loop.time() - next_push > PUSH_INTERVAL:
                    next_push = loop.time()  # fell behind: re-anchor instead of bursting
                for topic in sorted(topics):
                    await self._push(connection, topic)
        except ConnectionClosed:
            pass
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed, Exception):
                await listener

    async def _push(self, connection: ServerConnection, topic: str) -> None:
        outcome = self.faults_of().outcome(topic, TOPICS[topic].document, "ws")
        if outcome.delay:
            await asyncio.sleep(outcome.delay)
        if outcome.status != 200 or outcome.empty:
            return
        message, data = self.feed.topic(self.view, topic)
        if message is None:
            return
        if outcome.drift:
            data = serialize(apply_drift(message, outcome.drift)).decode()
        await connection.send(data)
