"""The server's Starlette application, assembled in one place from explicit routes.

    /ws/client     the clients' websocket (server.ingest)
    /status.json   server id, uptime, the connected clients and the tracked sessions
    /status        the same as an HTML page (web/templates/status.html)
    /healthz       "ok" while the process serves
    /ws/view       the live pages' websocket (web.live)
    /static/...    the dashboard's CSS, scripts and vendored htmx (web/static)
    / and /sessions/...  the dashboard's pages and their JSON twins (web.routes)
    /sessions/{id}/results, /charts, *.csv, /tracks/..., /api/...  analysis (web.routes_analysis)
    /admin/...     admin actions behind the configured admin token (server.admin)

Every HTTP answer carries the security headers (web.security: a CSP without inline script).

The lifespan opens and migrates the database and settles the server id before the first
connection, then starts the session feed (which restores live sessions) if it has a `start`;
configuration and the session feed are passed in, never imported from globals.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from importlib import resources

import jinja2
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from server import admin, db
from server.config import ServerConfig
from server.core import LiveSessions
from server.feed import PlanPublisher, SessionFeed
from server.ingest import Ingest, client_endpoint
from web import live, routes_analysis
from web import routes as web_routes
from web.live.frames import FanoutProtocol
from web.security import SecurityHeaders

log = logging.getLogger(__name__)

STREAM_RETENTION = 7 * 24 * 3600.0  # forget a client run's stream seqs after a week


def _templates() -> jinja2.Environment:
    folder = resources.files("web").joinpath("templates")
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=True,  # every text is escaped: names come from the clients
        undefined=jinja2.StrictUndefined,
    )


def _static() -> object:
    return resources.files("web").joinpath("static")


def _clock(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def create_app(config: ServerConfig, feed: SessionFeed | None = None) -> Starlette:
    """The application; `feed` defaults to `LiveSessions` (arbiter, trackers, store)."""
    feed = feed if feed is not None else LiveSessions(database=config.database)
    ingest = Ingest(config, feed)
    if isinstance(feed, PlanPublisher):
        feed.bind(ingest.send_plan)
    templates = _templates()
    templates.filters["clock"] = _clock
    started = time.time()
    hub = live.hub_for(feed)

    def status() -> dict:
        return {
            "server": "LMU Session Tracker",
            "server_id": ingest.server_id,
            "started_at": started,
            "uptime": round(time.time() - started, 1),
            "clients": ingest.clients(),
            "sessions": feed.status() if hasattr(feed, "status") else [],
            "live": hub.stats(),
        }

    async def status_json(request: Request) -> JSONResponse:
        return JSONResponse(status())

    async def status_page(request: Request) -> HTMLResponse:
        html = templates.get_template("status.html").render(status=status())
        return HTMLResponse(html)

    async def healthz(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        conn = await db.open_db(config.database)
        try:
            await db.migrate(conn)
            ingest.server_id = config.server_id or await db.server_id(conn)
            await db.forget_streams_before(conn, time.time() - STREAM_RETENTION)
            ingest.conn = conn
            log.info("database %s ready; server id %s", config.database, ingest.server_id)
            start, stop = getattr(feed, "start", None), getattr(feed, "stop", None)
            if start is not None:
                await start()  # restores live sessions before the first client connects
            try:
                yield
            finally:
                hub.close()
                if stop is not None:
                    await stop()
        finally:
            ingest.conn = None
            await conn.close()

    app = Starlette(
        routes=[
            WebSocketRoute("/ws/client", client_endpoint),
            Route("/status.json", status_json),
            Route("/status", status_page),
            Route("/healthz", healthz),
            *live.routes(hub),
            Mount("/static", StaticFiles(directory=str(_static())), name="static"),
            *web_routes.routes(),
            *routes_analysis.routes(),
            *admin.routes(config),
        ],
        middleware=[Middleware(SecurityHeaders)],
        lifespan=lifespan,
    )
    app.state.ingest = ingest
    app.state.feed = feed
    app.state.hub = hub
    app.state.config = config
    return app


def uvicorn_config(config: ServerConfig, app: Starlette, **extra: object) -> uvicorn.Config:
    """How uvicorn runs the app: websocket pings both ways, and frames a bit larger than the
    message limit still reach ingest (which answers `too_large` instead of dropping the line)."""
    return uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        ws=FanoutProtocol,  # websockets-sansio, with /ws/view's frames shared by all viewers
        ws_max_size=4 * config.max_message_bytes,
        ws_ping_interval=10.0,
        ws_ping_timeout=20.0,
        lifespan="on",
        log_config=None,
        access_log=False,
        **extra,
    )
