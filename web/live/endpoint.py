"""`/ws/view`: one websocket per live page, subscribed to one topic of the hub.

`ws-connect="/ws/view?view=<name>&session=<id>[&car=<key>]"` (the htmx ws extension). The
server accepts, validates the query (a bad one is closed with 1008 and a reason saying what is
wrong), sends the full refresh of the topic at once, then only the fragments that changed.
Browsers are read-only: whatever they send is ignored (the ws extension sends JSON when a form
inside is submitted); after `MAX_BAD` messages that are not even that, the socket is closed with
1003. A viewer whose send is stuck is closed with 1013, which makes the ws extension reconnect
(and get a full refresh) -- as it does after any abnormal close or server restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import orjson
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket

from web.live.frames import SHARED
from web.live.hub import Hub, UnknownTopic, Viewer
from web.live.topics import topic_key

log = logging.getLogger(__name__)

MAX_BAD = 100  # garbage messages before the socket is closed
CLOSE_TIMEOUT = 2.0  # s to send a close frame to a viewer that may not read


def routes(hub: Hub) -> list[BaseRoute]:
    """The live routes, for the app's route list."""

    async def view_socket(websocket: WebSocket) -> None:
        await serve_viewer(hub, websocket)

    return [WebSocketRoute("/ws/view", view_socket, name="ws_view")]


async def serve_viewer(hub: Hub, websocket: WebSocket) -> None:
    query = websocket.query_params
    await websocket.accept()  # before any close: a close before accept is an HTTP 403
    try:
        key = topic_key(query.get("view"), query.get("session"), query.get("car"))
    except ValueError as exc:
        await _close(websocket, 1008, str(exc))
        return

    async def send(text: str) -> None:  # the same str to many sockets: one shared frame
        await websocket.send({"type": "websocket.send", "text": text, SHARED: True})

    viewer = Viewer(send)
    try:
        hub.subscribe(key, viewer)
    except UnknownTopic as exc:
        await _close(websocket, 1008, str(exc))
        return
    except Exception:
        log.exception("first render of %s failed", key)
        await _close(websocket, 1011, "render failed")
        return
    sender = asyncio.create_task(viewer.run(), name=f"viewer-{key.view}")
    listener = asyncio.create_task(_listen(websocket), name="viewer-listen")
    try:
        done, _ = await asyncio.wait({sender, listener}, return_when=asyncio.FIRST_COMPLETED)
        if sender in done and viewer.stuck:
            log.info("viewer of %s dropped: %s", key, viewer.dropped)
            await _close(websocket, 1013, "too slow: reconnect")
        elif listener in done and listener.result() is not None:
            await _close(websocket, 1003, listener.result())
    finally:
        for task in (sender, listener):
            task.cancel()
        await asyncio.gather(sender, listener, return_exceptions=True)
        hub.unsubscribe(key, viewer)


async def _listen(websocket: WebSocket) -> str | None:
    """Read until the browser leaves (None) or has sent too much garbage (the close reason)."""
    bad = 0
    while True:
        try:
            message = await websocket.receive()
        except Exception:  # the socket is gone
            return None
        if message["type"] == "websocket.disconnect":
            return None
        if _from_htmx(message.get("text")):
            log.debug("viewer message ignored (browsers are read-only)")
            continue
        bad += 1
        log.debug("garbage from a viewer (%d so far)", bad)
        if bad >= MAX_BAD:
            return f"{MAX_BAD} unexpected messages"


def _from_htmx(text: str | None) -> bool:
    """Is this what the htmx ws extension sends (a JSON object with its HEADERS)?"""
    if text is None or len(text) > 65536:
        return False
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return type(doc) is dict and type(doc.get("HEADERS")) is dict


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    reason = reason.encode()[:120].decode(errors="ignore")  # a close reason is <= 123 bytes
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.close(code, reason), CLOSE_TIMEOUT)
