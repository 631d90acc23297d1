"""The transport in a real browser: htmx + its ws extension (vendored) + live.js, under the CSP.

A small page (no inline script, served with the Content-Security-Policy of issue 7) connects to
the real `/ws/view` endpoint and hub; the renderer is a stand-in whose HTML the test controls,
so what is checked is the transport itself: the full refresh on connect, out-of-band swaps of
`<tr>` rows beside other elements in one message, the removal of an element a render no longer
has, no reload, the connection indicator, "N s ago", and the reconnect with a full refresh after
the server restarts on the same port, all through the shared (compressed once) frames of
`FanoutProtocol`. The pages themselves are tested in test_browser.py.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from importlib import resources

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from web.live import Hub, TopicKey, frames, routes
from web.live.frames import FanoutProtocol

CSP = "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'"
SESSION = "s1"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="htmx-config" content='{"includeIndicatorStyles":false,"allowEval":false}'>
<title>live transport</title>
<script src="/static/vendor/htmx.min.js" defer></script>
<script src="/static/vendor/htmx-ext-ws.js" defer></script>
<script src="/static/live.js" defer></script>
</head><body>
<span id="conn" class="conn conn-wait">connecting</span>
<main hx-ext="ws" ws-connect="/ws/view?view=session&amp;session=s1">
<section id="session-header">static header</section>
<p>Last data <span id="ago" class="js-ago" data-updated-at="0"></span></p>
<p id="extra">to be removed</p>
<table><tbody id="rows">
<tr id="car-a"><td>a static</td></tr>
<tr id="car-b"><td>b static</td></tr>
</tbody></table>
</main>
</body></html>
"""


class Page:
    """The stand-in renderer: the HTML of every live element, as the test sets it."""

    def __init__(self) -> None:
        self.header = "ET 1"
        self.rows = {"car-a": "a 1", "car-b": "b 1"}
        self.extra = True
        self.updated_at = time.time() - 5

    def render(self, view: str, inp, **params) -> dict[str, str]:
        out = {
            "session-header": f'<section id="session-header" hx-swap-oob="true">'
            f"{self.header}</section>",
            "ago": f'<span id="ago" class="js-ago" data-updated-at="{self.updated_at}"'
            ' hx-swap-oob="true"></span>',
        }
        if self.extra:
            out["extra"] = '<p id="extra" hx-swap-oob="true">still here</p>'
        for element_id, text in self.rows.items():
            out[element_id] = f'<tr id="{element_id}" hx-swap-oob="true"><td>{text}</td></tr>'
        return out


class ThreadServer:
    """The little app under uvicorn in a thread with its own event loop, on a fixed port."""

    def __init__(self, page: Page, port: int) -> None:
        self.page, self.port = page, port
        self.loop: asyncio.AbstractEventLoop | None = None
        self.hub: Hub | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def app(self) -> Starlette:
        self.hub = Hub(lambda key, now: {"now": now}, self.page.render)

        async def index(request: Request) -> HTMLResponse:
            return HTMLResponse(PAGE, headers={"Content-Security-Policy": CSP})

        async def no_icon(request: Request) -> Response:
            return Response(status_code=204)

        static = str(resources.files("web").joinpath("static"))
        return Starlette(
            routes=[
                Route("/", index),
                Route("/favicon.ico", no_icon),
                *routes(self.hub),
                Mount("/static", StaticFiles(directory=static), name="static"),
            ]
        )

    def start(self) -> ThreadServer:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app(), log_config=None, timeout_graceful_shutdown=2,
                                ws=FanoutProtocol, lifespan="off")  # fmt: skip
        server = uvicorn.Server(config)
        server.install_signal_handlers = lambda: None
        self._server = server
        ready = threading.Event()

        def serve() -> None:
            self.loop = asyncio.new_event_loop()
            self.loop.call_soon(ready.set)
            self.loop.run_until_complete(server.serve(sockets=[sock]))
            self.loop.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        ready.wait(5)
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        return self

    def changed(self) -> None:
        """The session changed (what LiveSessions.listen tells the hub), from the test thread."""
        assert self.loop is not None and self.hub is not None
        self.loop.call_soon_threadsafe(self.hub.session_changed, SESSION)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
            self._server = self._thread = None


def text(page, selector: str) -> str:
    return page.locator(selector).inner_text()


def test_swaps_rows_removes_reconnects_under_the_csp(browser):
    render = Page()
    server = ThreadServer(render, 0).start()
    from playwright.sync_api import expect  # the browser fixture fails in CI without it

    context = browser.new_context()
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        page.goto(f"http://127.0.0.1:{server.port}/")
        page.evaluate("window.__notReloaded = true")
        page.wait_for_selector("#conn.conn-live", timeout=10_000)
        assert text(page, "#conn") == "live"
        assert "conn-wait" not in page.get_attribute("#conn", "class")
        # the full refresh replaced every element
        expect(page.locator("#car-a td")).to_have_text("a 1")
        assert text(page, "#session-header") == "ET 1"
        assert text(page, "#extra") == "still here"
        assert text(page, "#ago") in ("5 s ago", "6 s ago", "7 s ago")
        # a change: a row and the header in one message, the row stays in its table
        render.header, render.rows["car-b"] = "ET 2", "b 2"
        server.changed()
        expect(page.locator("#car-b td")).to_have_text("b 2")
        assert text(page, "#session-header") == "ET 2"
        parents = page.eval_on_selector_all("#rows > tr", "rows => rows.map(r => r.id)")
        assert parents == ["car-a", "car-b"], "an OOB <tr> left its table"
        # an element the render no longer has is removed
        render.extra = False
        render.rows["car-a"] = "a 3"
        server.changed()
        expect(page.locator("#car-a td")).to_have_text("a 3")
        assert page.locator("#extra").count() == 0
        assert page.locator("template").count() == 0
        assert page.evaluate("window.__notReloaded") is True
        # "N s ago" ticks by itself
        first = text(page, "#ago")
        expect(page.locator("#ago")).not_to_have_text(first, timeout=3_000)
        assert not problems, problems  # no error before the restart (which logs the ws error)
        # the server restarts on the same port: down, then live again with a full refresh
        port = server.port
        server.stop()
        page.wait_for_selector("#conn.conn-down", timeout=10_000)
        assert text(page, "#conn") == "reconnecting"
        render.rows["car-a"] = "a after restart"
        server = ThreadServer(render, port).start()
        page.wait_for_selector("#conn.conn-live", timeout=15_000)
        expect(page.locator("#car-a td")).to_have_text("a after restart", timeout=15_000)
        assert page.evaluate("window.__notReloaded") is True
        assert server.hub is not None and server.hub.stats()["viewers"] == 1
        # chromium took permessage-deflate: it read the shared, compressed frames
        assert frames.counters["frames_written"] >= 5
        assert TopicKey("session", SESSION) in server.hub.topics
        csp = [p for p in problems if "Content Security Policy" in p]
        assert not csp, csp
    finally:
        context.close()
        server.stop()
