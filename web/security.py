"""Security headers on every HTTP response: a strict Content-Security-Policy and its friends.

Why a middleware and not per route: a header a route forgets is a hole, and the error pages
(404, 405, a 500 from a bug) need them as much as the dashboard does. The policy allows only
this server's own scripts and styles (no inline script, no style="" attributes, no eval), so a
team or driver name that slipped past escaping still cannot run; `frame-ancestors 'none'` and
`X-Frame-Options` stop clickjacking; `nosniff` stops a browser from running a JSON or text
answer as a script.

Use it with Starlette: `Middleware(SecurityHeaders)` (pure ASGI, so it also covers streaming and
static-file responses and leaves websockets alone).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
)


def with_security_headers(
    headers: list[tuple[bytes, bytes]], extra: tuple[tuple[str, str], ...] = HEADERS
) -> list[tuple[bytes, bytes]]:
    """The response's raw headers plus ours; a header the response already set is kept (a
    route may send a stricter policy), so nothing is ever sent twice."""
    present = {name.lower() for name, _ in headers}
    added = [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in extra
        if name.encode("latin-1") not in present
    ]
    return [*headers, *added]


class SecurityHeaders:
    """ASGI middleware: adds `HEADERS` to every HTTP response, including error responses."""

    def __init__(self, app: ASGIApp, headers: tuple[tuple[str, str], ...] = HEADERS) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = with_security_headers(
                    list(message.get("headers", [])), self.headers
                )
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Starlette's outer error handler would answer 500 without our headers: answer
            # first (with them), then let the exception go on to be logged.
            if not started:
                await send_with_headers(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8")],
                    }
                )
                await send({"type": "http.response.body", "body": b"Internal Server Error"})
            raise
