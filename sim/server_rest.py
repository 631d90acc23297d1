"""The game's REST port for one viewpoint: GET only, `text/plain` without charset, orjson bytes.

The game labels its JSON `text/plain` and sends no charset although the bytes are UTF-8;
Starlette would add `; charset=utf-8` to a text media type, so the header is set by hand.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sim.faults import apply_drift
from sim.render import REST, serialize
from sim.server_feed import RaceFeed
from sim.viewpoint import Viewpoint

log = logging.getLogger(__name__)

TEXT_PLAIN = {"content-type": "text/plain"}


def text(body: bytes, status: int = 200) -> Response:
    return Response(content=body, status_code=status, headers=TEXT_PLAIN)


def rest_app(feed: RaceFeed, view: Viewpoint, faults_of) -> Starlette:
    """The REST app of a viewpoint; `faults_of()` returns its current `Faults`."""

    async def answer(request: Request) -> Response:
        path = request.url.path
        if request.method not in ("GET", "HEAD"):
            return text(b"", 405)
        endpoint = REST.get(path)
        if endpoint is None:
            return text(b"", 404)
        outcome = faults_of().outcome(path, endpoint.document)
        if outcome.delay:
            await asyncio.sleep(outcome.delay)
        if outcome.status != 200:
            return text(b"Internal Server Error", outcome.status)
        if outcome.empty:
            return text(b"")
        body, data = feed.document(view, path)
        if outcome.drift:
            data = serialize(apply_drift(body, outcome.drift))
        return text(data)

    return Starlette(
        routes=[Route("/{path:path}", answer, methods=["GET", "HEAD", "POST", "PUT", "DELETE"])]
    )
